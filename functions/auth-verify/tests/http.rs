//! `POST /auth/verify` over HTTP against moto.

use serde_json::json;
use shared::audit::Origin;
use shared::store::{Relation, Role};
use shared::testing::{TestStack, app, request, send};

#[tokio::test]
async fn the_code_from_the_sms_starts_a_session() {
    let stack = TestStack::new().await;
    let client = stack.add_client("team-a").await;
    let user = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    let router = app(auth_verify::router(stack.code_step()));
    let started = stack
        .password_step()
        .run(
            &user.account.username,
            user.password.clone(),
            &Origin::default(),
        )
        .await
        .unwrap();
    let code = stack.sms_code(&user.account.phone).await;
    let challenge = started.challenge_id.to_string();

    let bad_format = send(
        &router,
        request(
            "POST",
            "/auth/verify",
            Some(&json!({"challenge_id": challenge, "code": "12a456"}).to_string()),
            None,
        ),
    )
    .await;
    assert_eq!(
        (bad_format.status.as_u16(), bad_format.problem_code()),
        (400, "invalid_field")
    );
    assert_eq!(bad_format.body["field"], "code");
    let bad_id = send(
        &router,
        request(
            "POST",
            "/auth/verify",
            Some(&json!({"challenge_id": "nope", "code": "123456"}).to_string()),
            None,
        ),
    )
    .await;
    assert_eq!(
        (bad_id.status.as_u16(), bad_id.problem_code()),
        (400, "invalid_field")
    );
    let unknown = send(
        &router,
        request(
            "POST",
            "/auth/verify",
            Some(
                &json!({"challenge_id": shared::types::ChallengeId::generate(), "code": "123456"})
                    .to_string(),
            ),
            None,
        ),
    )
    .await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.problem_code()),
        (401, "challenge_invalid")
    );

    let wrong: u32 = (code.as_str().parse::<u32>().unwrap() + 1) % 1_000_000;
    let rejected = send(
        &router,
        request(
            "POST",
            "/auth/verify",
            Some(&json!({"challenge_id": challenge, "code": format!("{wrong:06}")}).to_string()),
            None,
        ),
    )
    .await;
    assert_eq!(
        (rejected.status.as_u16(), rejected.problem_code()),
        (401, "code_incorrect")
    );
    assert_eq!(rejected.body["remaining_attempts"], 4);

    let accepted = send(
        &router,
        request(
            "POST",
            "/auth/verify",
            Some(&json!({"challenge_id": challenge, "code": code.as_str()}).to_string()),
            None,
        ),
    )
    .await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(accepted.body["token_type"], "Bearer");
    assert_eq!(accepted.body["terms_acceptance_required"], false);
    let claims = stack
        .verifier
        .verify(accepted.body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.sub, user.account.id);
    assert_eq!(accepted.body["session_id"], claims.sid.to_string());
}
