//! The session routes over HTTP against moto, with every kind of bad token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use shared::store::{AccountStatus, Relation, Role};
use shared::testing::{TestAccount, TestStack, app, request, send};

async fn setup() -> (TestStack, TestAccount, axum::Router) {
    let stack = TestStack::new().await;
    let client = stack.add_client("team-a").await;
    let user = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    let router = app(auth_sessions::router(auth_sessions::SessionsState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    (stack, user, router)
}

#[tokio::test]
async fn missing_malformed_forged_expired_and_unsigned_tokens_are_refused() {
    let (stack, user, router) = setup().await;
    let tokens = stack.login(&user).await;
    let other = TestStack::new().await;
    let now = shared::time::now().unix_timestamp();
    let session = stack.verifier.verify(&tokens.access_token).unwrap().sid;
    let forged = other.signer.issue(&user.account.id, &session, now);
    let expired = stack.signer.issue(&user.account.id, &session, now - 3600);
    let payload = tokens.access_token.split('.').nth(1).unwrap();
    let unsigned = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );

    let missing = send(&router, request("GET", "/auth/sessions", None, None)).await;
    assert_eq!(
        (missing.status.as_u16(), missing.problem_code()),
        (401, "unauthenticated")
    );
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    for token in [
        "not-a-jwt",
        forged.expose_secret(),
        expired.expose_secret(),
        &unsigned,
    ] {
        let reply = send(&router, request("GET", "/auth/sessions", None, Some(token))).await;
        assert_eq!(
            (reply.status.as_u16(), reply.problem_code()),
            (401, "unauthenticated"),
            "{token}"
        );
    }
    let good = send(
        &router,
        request("GET", "/auth/sessions", None, Some(&tokens.access_token)),
    )
    .await;
    assert_eq!(good.status, 200);
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one_or_all_at_once() {
    let (stack, user, router) = setup().await;
    let first = stack.login(&user).await;
    let second = stack.login(&user).await;
    let third = stack.login(&user).await;

    let listed = send(
        &router,
        request("GET", "/auth/sessions", None, Some(&first.access_token)),
    )
    .await;
    let sessions = listed.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], first.session_id.to_string());

    let path = format!("/auth/sessions/{}", second.session_id);
    let revoked = send(
        &router,
        request("DELETE", &path, None, Some(&first.access_token)),
    )
    .await;
    assert_eq!(revoked.status, 204);
    let gone = send(
        &router,
        request("GET", "/auth/sessions", None, Some(&second.access_token)),
    )
    .await;
    assert_eq!(
        (gone.status.as_u16(), gone.problem_code()),
        (401, "session_ended")
    );
    let again = send(
        &router,
        request("DELETE", &path, None, Some(&first.access_token)),
    )
    .await;
    assert_eq!(
        (again.status.as_u16(), again.problem_code()),
        (404, "not_found")
    );
    let invalid = send(
        &router,
        request(
            "DELETE",
            "/auth/sessions/xyz",
            None,
            Some(&first.access_token),
        ),
    )
    .await;
    assert_eq!(
        (invalid.status.as_u16(), invalid.problem_code()),
        (400, "invalid_field")
    );

    let logout = send(
        &router,
        request("POST", "/auth/logout", None, Some(&first.access_token)),
    )
    .await;
    assert_eq!(logout.status, 204);
    let after = send(
        &router,
        request("GET", "/auth/sessions", None, Some(&first.access_token)),
    )
    .await;
    assert_eq!(after.status, 401);
    let still = send(
        &router,
        request("GET", "/auth/sessions", None, Some(&third.access_token)),
    )
    .await;
    assert_eq!(still.status, 200);

    let fourth = stack.login(&user).await;
    let all = send(
        &router,
        request("POST", "/auth/logout-all", None, Some(&third.access_token)),
    )
    .await;
    assert_eq!(all.status, 204);
    for token in [&third.access_token, &fourth.access_token] {
        let reply = send(&router, request("GET", "/auth/sessions", None, Some(token))).await;
        assert_eq!(reply.status, 401);
    }
    assert!(
        stack
            .store
            .list_sessions(&user.account.id)
            .await
            .unwrap()
            .is_empty()
    );
    let audit: Vec<_> = stack
        .store
        .account_audit(&user.account.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    use shared::audit::AuditAction::*;
    for action in [SessionRevoked, Logout, LogoutAll] {
        assert!(audit.contains(&action), "{action:?} not audited");
    }
}

#[tokio::test]
async fn a_blocked_account_s_live_sessions_stop_on_the_next_request() {
    let (stack, user, router) = setup().await;
    let tokens = stack.login(&user).await;
    stack
        .store
        .set_account_status(&user.account.id, AccountStatus::Blocked)
        .await
        .unwrap();
    let reply = send(
        &router,
        request("GET", "/auth/sessions", None, Some(&tokens.access_token)),
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.problem_code()),
        (401, "session_ended")
    );
    let logout = send(
        &router,
        request("POST", "/auth/logout", None, Some(&tokens.access_token)),
    )
    .await;
    assert_eq!(logout.status, 401);
}

#[tokio::test]
async fn a_session_without_accepted_terms_may_only_log_out() {
    let stack = TestStack::new().await;
    let client = stack.add_client("team-a").await;
    let user = stack
        .add_account_with(
            Role::Client,
            &[(&client, Relation::ClientSelf, &[])],
            None,
            None,
        )
        .await;
    let router = app(auth_sessions::router(auth_sessions::SessionsState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    let tokens = stack.login(&user).await;
    let listed = send(
        &router,
        request("GET", "/auth/sessions", None, Some(&tokens.access_token)),
    )
    .await;
    assert_eq!(
        (listed.status.as_u16(), listed.problem_code()),
        (403, "terms_not_accepted")
    );
    let logout = send(
        &router,
        request("POST", "/auth/logout", None, Some(&tokens.access_token)),
    )
    .await;
    assert_eq!(logout.status, 204);
}
