//! `POST /auth/refresh` over HTTP against moto.

use serde_json::json;
use shared::store::{Relation, Role};
use shared::testing::{TestStack, app, request, send};

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_ends_the_session() {
    let stack = TestStack::new().await;
    let client = stack.add_client("team-a").await;
    let user = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    let router = app(auth_refresh::router(stack.refresh_step()));
    let tokens = stack.login(&user).await;
    let refresh = |token: &str| {
        request(
            "POST",
            "/auth/refresh",
            Some(&json!({"refresh_token": token}).to_string()),
            None,
        )
    };

    stack.dynamo_calls.take();
    let rotated = send(&router, refresh(&tokens.refresh_token)).await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    // The account's status, then the conditional swap.
    assert_eq!(stack.dynamo_calls.take(), 2);
    let next = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, tokens.refresh_token);
    assert!(
        stack
            .verifier
            .verify(rotated.body["access_token"].as_str().unwrap())
            .is_some()
    );

    let replayed = send(&router, refresh(&tokens.refresh_token)).await;
    assert_eq!(
        (replayed.status.as_u16(), replayed.problem_code()),
        (401, "refresh_invalid")
    );
    let after = send(&router, refresh(&next)).await;
    assert_eq!(
        (after.status.as_u16(), after.problem_code()),
        (401, "refresh_invalid")
    );

    let garbage = send(&router, refresh("garbage")).await;
    assert_eq!(
        (garbage.status.as_u16(), garbage.problem_code()),
        (401, "refresh_invalid")
    );
    let unknown_field = send(
        &router,
        request(
            "POST",
            "/auth/refresh",
            Some(&json!({"refresh_token": next, "extra": 1}).to_string()),
            None,
        ),
    )
    .await;
    assert_eq!(unknown_field.status, 400);
}
