//! The terms routes over HTTP against moto.

use serde_json::json;
use shared::audit::AuditAction;
use shared::store::{Relation, Role};
use shared::testing::{TERMS_VERSION, TestStack, app, request, send};
use std::sync::Arc;

#[tokio::test]
async fn anyone_can_read_the_terms_and_a_session_accepts_the_current_version() {
    let stack = TestStack::new().await;
    let client = stack.add_client("team-a").await;
    let user = stack
        .add_account_with(
            Role::Client,
            &[(&client, Relation::ClientSelf, &[])],
            Some("1.0".into()),
            None,
        )
        .await;
    let router = app(terms::router(terms::TermsState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
        terms: Arc::new(stack.terms.clone()),
    }));

    stack.dynamo_calls.take();
    let terms = send(&router, request("GET", "/terms", None, None)).await;
    assert_eq!(terms.status, 200);
    assert_eq!(
        stack.dynamo_calls.take(),
        0,
        "the terms come from configuration"
    );
    assert_eq!(terms.body["version"], TERMS_VERSION);
    for field in [
        "terms_url",
        "privacy_url",
        "complaints_url",
        "general_terms_url",
        "organisation",
    ] {
        assert!(terms.body[field].is_string(), "{field}");
    }

    let tokens = stack.login(&user).await;
    assert!(tokens.terms_acceptance_required);
    let accept = |version: &str| {
        request(
            "POST",
            "/terms/accept",
            Some(&json!({"version": version}).to_string()),
            Some(&tokens.access_token),
        )
    };
    let stale = send(&router, accept("1.0")).await;
    assert_eq!(
        (stale.status.as_u16(), stale.problem_code()),
        (409, "terms_version_mismatch")
    );
    let anonymous = send(
        &router,
        request("POST", "/terms/accept", Some(r#"{"version":"2.0"}"#), None),
    )
    .await;
    assert_eq!(anonymous.status, 401);

    stack.dynamo_calls.take();
    let accepted = send(&router, accept(TERMS_VERSION)).await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    // The auth check, then acceptance and its audit entry in one transaction.
    assert_eq!(stack.dynamo_calls.take(), 2);
    assert_eq!(accepted.body["version"], TERMS_VERSION);
    let account = stack
        .store
        .get_account(&user.account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.terms_version.as_deref(), Some(TERMS_VERSION));
    let audit = stack.store.account_audit(&user.account.id).await.unwrap();
    let event = audit
        .iter()
        .find(|e| e.action == AuditAction::TermsAccepted)
        .expect("acceptance audited");
    assert_eq!(event.detail.as_deref(), Some("version=2.0"));
    assert_eq!(event.session.as_ref(), Some(&tokens.session_id));
}
