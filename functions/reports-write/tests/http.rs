//! Writing reports over HTTP against moto: who may write, what text is accepted, and that a
//! retried request creates one report.

use serde_json::json;
use shared::audit::AuditAction;
use shared::dossier::EcdSubmission;
use shared::store::{Client, Permission, Relation, Role};
use shared::testing::{Reply, TestStack, app, request, send};

fn write(
    client: &Client,
    body: &str,
    key: Option<&str>,
    token: &str,
) -> axum::http::Request<axum::body::Body> {
    let mut request = request(
        "POST",
        &format!("/clients/{}/reports", client.id),
        Some(body),
        Some(token),
    );
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
    }
    request
}

fn text(value: &str) -> String {
    json!({ "text": value }).to_string()
}

async fn stack_with_client() -> (TestStack, axum::Router, Client) {
    let stack = TestStack::new().await;
    let router = app(reports_write::router(reports_write::ReportsState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    let client = stack.add_client("noord").await;
    (stack, router, client)
}

async fn portal_reports(stack: &TestStack, client: &Client) -> usize {
    stack
        .store
        .dossier_items(&client.id)
        .await
        .unwrap()
        .reports
        .len()
}

#[tokio::test]
async fn a_report_is_stored_counted_sent_to_the_ecd_and_logged_in_one_write() {
    let (stack, router, client) = stack_with_client().await;
    let holder = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    let token = stack.login(&holder).await.access_token;
    stack.dynamo_calls.take();

    let reply = send(
        &router,
        write(
            &client,
            &text("  Vandaag goed gewandeld.\n"),
            Some("key-00000001"),
            &token,
        ),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(
        stack.dynamo_calls.take(),
        2,
        "access check, then one transaction"
    );
    assert_eq!(reply.body["text"], "Vandaag goed gewandeld.");
    assert_eq!(reply.body["source"], "portal");
    assert_eq!(reply.body["author"]["role"], "client");

    let dossier = stack.store.dossier_items(&client.id).await.unwrap();
    assert_eq!(dossier.reports.len(), 1);
    assert_eq!(
        dossier.reports[0].id.as_str(),
        reply.body["id"].as_str().unwrap()
    );
    let head = stack.store.get_client(&client.id).await.unwrap().unwrap();
    assert_eq!(head.report_count, 1);
    let outbox = stack.store.pending_outbox().await.unwrap();
    assert!(matches!(
        &outbox[..],
        [entry] if matches!(&entry.submission, EcdSubmission::Report { report, .. } if report.id == dossier.reports[0].id)
    ));
    let written = stack
        .client_audit(&client.id)
        .await
        .into_iter()
        .filter(|event| event.action == AuditAction::ReportWritten)
        .count();
    assert_eq!(written, 1);
}

#[tokio::test]
async fn a_retried_request_creates_one_report_and_a_reused_key_is_refused() {
    let (stack, router, client) = stack_with_client().await;
    let holder = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    let token = stack.login(&holder).await.access_token;
    let key = "0b6f1c9e-5d1a-4c1e-9a53-2f5f8c1f2a77";

    let first = send(
        &router,
        write(&client, &text("Goed geslapen."), Some(key), &token),
    )
    .await;
    assert_eq!(first.status, 201);
    let retry = send(
        &router,
        write(&client, &text("Goed geslapen."), Some(key), &token),
    )
    .await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(retry.body["id"], first.body["id"]);

    let other = send(
        &router,
        write(&client, &text("Iets anders."), Some(key), &token),
    )
    .await;
    assert_eq!(other.status, 422);
    assert_eq!(other.problem_code(), "idempotency_key_reused");

    assert_eq!(portal_reports(&stack, &client).await, 1);
    assert_eq!(
        stack
            .store
            .get_client(&client.id)
            .await
            .unwrap()
            .unwrap()
            .report_count,
        1
    );
    assert_eq!(stack.store.pending_outbox().await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_input_gets_a_problem_and_writes_nothing() {
    let (stack, router, client) = stack_with_client().await;
    let holder = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    let token = stack.login(&holder).await.access_token;
    let key = Some("key-00000002");
    let too_long = "a".repeat(4001);
    let cases: Vec<(String, Option<&str>, u16, &str)> = vec![
        (
            text("Zonder sleutel"),
            None,
            400,
            "idempotency_key_required",
        ),
        (text("Korte sleutel"), Some("short"), 400, "invalid_field"),
        (text(""), key, 400, "bad_request"),
        (text("   "), key, 400, "bad_request"),
        (text(&too_long), key, 400, "bad_request"),
        (text("bel\u{7}"), key, 400, "bad_request"),
        (
            json!({"text": "x", "extra": 1}).to_string(),
            key,
            400,
            "bad_request",
        ),
        ("not json".into(), key, 400, "bad_request"),
    ];
    for (body, key, status, code) in cases {
        let reply: Reply = send(&router, write(&client, &body, key, &token)).await;
        assert_eq!(reply.status, status, "{body:.40}: {reply:?}");
        assert_eq!(reply.problem_code(), code, "{body:.40}");
    }
    let bad_id = send(
        &router,
        request(
            "POST",
            "/clients/not%20valid/reports",
            Some(&text("x")),
            Some(&token),
        ),
    )
    .await;
    assert_eq!(bad_id.status, 400);
    assert_eq!(portal_reports(&stack, &client).await, 0);
    assert!(stack.store.pending_outbox().await.unwrap().is_empty());
}

#[tokio::test]
async fn authorised_users_write_only_with_the_write_permission_and_staff_do_not_write() {
    let (stack, router, client) = stack_with_client().await;
    let writer = stack
        .add_account(
            Role::AuthorisedUser,
            &[(
                &client,
                Relation::AuthorisedUser,
                &[Permission::WriteReports],
            )],
        )
        .await;
    let reader = stack
        .add_account(
            Role::AuthorisedUser,
            &[(
                &client,
                Relation::AuthorisedUser,
                &[Permission::ReadReports],
            )],
        )
        .await;
    let staff = stack.add_staff("noord").await;

    let token = stack.login(&writer).await.access_token;
    let reply = send(
        &router,
        write(
            &client,
            &text("Mam was vrolijk."),
            Some("key-writer-1"),
            &token,
        ),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["author"]["role"], "authorised_user");

    for who in [&reader, &staff] {
        let token = stack.login(who).await.access_token;
        let reply = send(
            &router,
            write(&client, &text("Mag niet."), Some("key-refused"), &token),
        )
        .await;
        assert_eq!(reply.status, 403, "{reply:?}");
        assert_eq!(reply.problem_code(), "permission_missing");
    }
    assert_eq!(portal_reports(&stack, &client).await, 1);
}
