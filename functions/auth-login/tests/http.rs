//! `POST /auth/login` over HTTP against moto.

use serde_json::json;
use shared::store::{Relation, Role};
use shared::testing::{TestAccount, TestStack, app, request, send};

async fn setup() -> (TestStack, TestAccount, axum::Router) {
    let stack = TestStack::new().await;
    let client = stack.add_client("team-a").await;
    let user = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    let router = app(auth_login::router(stack.password_step()));
    (stack, user, router)
}

fn body(username: &str, password: &str) -> String {
    json!({"username": username, "password": password}).to_string()
}

fn login_request(username: &str, password: &str) -> http::Request<axum::body::Body> {
    request("POST", "/auth/login", Some(&body(username, password)), None)
}

#[tokio::test]
async fn a_right_password_sends_a_code_and_returns_the_challenge() {
    let (stack, user, app) = setup().await;
    let reply = send(
        &app,
        login_request(user.account.username.as_str(), shared::testing::PASSWORD),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["phone_hint"], user.account.phone.masked());
    assert_eq!(reply.body["challenge_id"].as_str().unwrap().len(), 26);
    assert!(reply.body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(reply.body.get("code").is_none());
    stack.sms_code(&user.account.phone).await;
    for header in [
        "x-request-id",
        "x-content-type-options",
        "cache-control",
        "strict-transport-security",
    ] {
        assert!(reply.headers.contains_key(header), "missing {header}");
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_problem() {
    let (_, user, app) = setup().await;
    let wrong = send(
        &app,
        login_request(user.account.username.as_str(), "wrong password!"),
    )
    .await;
    let unknown = send(&app, login_request("nobody-here", "wrong password!")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.problem_code(), "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.status, unknown.status);
}

#[tokio::test]
async fn bad_input_gets_a_clear_problem_and_changes_nothing() {
    let (stack, user, app) = setup().await;
    let name = user.account.username.as_str();
    let oversized = body(name, &"x".repeat(20 * 1024));
    let cases: Vec<(&str, http::Request<axum::body::Body>, u16, &str)> = vec![
        (
            "malformed JSON",
            request("POST", "/auth/login", Some("{\"username\": "), None),
            400,
            "bad_request",
        ),
        (
            "unknown field",
            request(
                "POST",
                "/auth/login",
                Some(&json!({"username": name, "password": "x", "admin": true}).to_string()),
                None,
            ),
            400,
            "bad_request",
        ),
        (
            "missing field",
            request(
                "POST",
                "/auth/login",
                Some(&json!({"username": name}).to_string()),
                None,
            ),
            400,
            "bad_request",
        ),
        (
            "wrong type",
            request(
                "POST",
                "/auth/login",
                Some(&json!({"username": 5, "password": "x"}).to_string()),
                None,
            ),
            400,
            "bad_request",
        ),
        (
            "invalid username",
            login_request("a b", "x"),
            400,
            "invalid_field",
        ),
        (
            "oversized body",
            request("POST", "/auth/login", Some(&oversized), None),
            413,
            "payload_too_large",
        ),
        (
            "not JSON",
            http::Request::builder()
                .method("POST")
                .uri("/auth/login")
                .header("content-type", "text/plain")
                .body(body(name, "x").into())
                .unwrap(),
            415,
            "unsupported_media_type",
        ),
        (
            "wrong method",
            request("GET", "/auth/login", None, None),
            405,
            "method_not_allowed",
        ),
        (
            "unknown route",
            request("GET", "/nowhere", None, None),
            404,
            "route_not_found",
        ),
    ];
    for (what, request, status, code) in cases {
        let reply = send(&app, request).await;
        assert_eq!(reply.status, status, "{what}: {reply:?}");
        assert_eq!(reply.problem_code(), code, "{what}");
    }
    // None of it counted as a failed password or sent anything.
    assert_eq!(
        stack
            .store
            .login_failures(&user.account.username, shared::time::now().unix_timestamp())
            .await
            .unwrap()
            .failures,
        0
    );
    assert!(
        stack
            .store
            .account_audit(&user.account.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_api_gateway_event_runs_through_the_same_router() {
    let (stack, user, app) = setup().await;
    let fixture = include_str!("fixtures/apigw-v2-login.json")
        .replace("USERNAME", user.account.username.as_str())
        .replace("PASSWORD", shared::testing::PASSWORD);
    let event =
        lambda_http::request::from_str(&fixture).expect("the fixture is an API Gateway v2 event");
    use tower::ServiceExt;
    let response = app.oneshot(event).await.unwrap();
    assert_eq!(response.status(), 200);
    // The caller's address comes from API Gateway's request context.
    let audit = stack.store.account_audit(&user.account.id).await.unwrap();
    assert_eq!(
        audit.last().unwrap().origin.source_ip.as_deref(),
        Some("198.51.100.7")
    );
}

#[tokio::test]
async fn a_login_costs_four_dynamodb_requests() {
    let (stack, user, app) = setup().await;
    stack.dynamo_calls.take();
    let reply = send(
        &app,
        login_request(user.account.username.as_str(), shared::testing::PASSWORD),
    )
    .await;
    assert_eq!(reply.status, 200);
    // Failure counter and account (in parallel), challenge with SMS counters, audit entry.
    assert_eq!(stack.dynamo_calls.take(), 4);
}
