//! The dossier read routes over HTTP against moto: what each shows, to whom, at what cost in
//! DynamoDB requests, and that every read leaves an access-log entry.

use serde_json::Value;
use shared::audit::AuditAction;
use shared::store::{Client, Permission, Relation, Role};
use shared::testing::{Reply, TestAccount, TestStack, app, request, send};

struct Setup {
    stack: TestStack,
    router: axum::Router,
    client: Client,
    holder: TestAccount,
}

async fn setup() -> Setup {
    let stack = TestStack::new().await;
    let router = app(dossier_read::router(dossier_read::DossierState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
        organisation: "Oktober".into(),
    }));
    let client = stack.add_client("noord").await;
    let holder = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    Setup {
        stack,
        router,
        client,
        holder,
    }
}

async fn get(router: &axum::Router, path: &str, token: &str) -> Reply {
    send(router, request("GET", path, None, Some(token))).await
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn views(stack: &TestStack, client: &Client) -> usize {
    stack
        .client_audit(&client.id)
        .await
        .iter()
        .filter(|event| matches!(event.action, AuditAction::Viewed | AuditAction::Exported))
        .count()
}

#[tokio::test]
async fn each_read_route_answers_within_its_budget_and_leaves_an_access_log_entry() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup().await;
    stack.publish_care_plan(&client.id, 1).await;
    let current = stack.publish_care_plan(&client.id, 2).await;
    let reports = stack.add_ecd_reports(&client.id, 5).await;
    stack.add_daily_appointments(&client.id, 1, 10).await;
    let synced = shared::time::now();
    stack.store.mark_synced(&client.id, synced).await.unwrap();
    let token = stack.login(&holder).await.access_token;
    let base = format!("/clients/{}", client.id);

    // (route, DynamoDB requests: access check + data + access-log entry)
    let budgets = [
        ("overview", 4),
        ("care-plan", 3),
        ("care-plan/versions", 3),
        ("reports", 3),
        ("agenda", 3),
        ("access-log", 3),
        ("export", 4),
    ];
    let mut logged = views(&stack, &client).await;
    for (route, budget) in budgets {
        stack.dynamo_calls.take();
        let reply = get(&router, &format!("{base}/{route}"), &token).await;
        assert_eq!(reply.status, 200, "{route}: {reply:?}");
        assert_eq!(stack.dynamo_calls.take(), budget, "{route}");
        assert_eq!(reply.body["client"]["id"], client.id.as_str(), "{route}");
        assert!(reply.body["synced_at"].is_string(), "{route}");
        let now_logged = views(&stack, &client).await;
        assert_eq!(now_logged, logged + 1, "{route} leaves one entry");
        logged = now_logged;
    }

    let overview = get(&router, &format!("{base}/overview"), &token).await.body;
    assert_eq!(overview["relation"], "client_self");
    assert_eq!(overview["care_plan"]["version"], 2);
    assert_eq!(
        overview["care_plan"]["content_hash"],
        current.content_hash.as_str()
    );
    assert_eq!(
        ids(&overview["latest_reports"]),
        reports[..3]
            .iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(overview["next_appointments"].as_array().unwrap().len(), 5);
    // The reports page above was read: nothing is unread any more.
    assert_eq!(overview["unread"]["reports"], 0);

    let plan = get(&router, &format!("{base}/care-plan"), &token)
        .await
        .body;
    assert_eq!(plan["care_plan"]["version"], 2);
    assert_eq!(plan["care_plan"]["content"]["goals"][0]["title"], "Doel 2");
    assert_eq!(plan["signable"], true);
    let versions = get(&router, &format!("{base}/care-plan/versions"), &token)
        .await
        .body;
    let numbers: Vec<_> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
}

#[tokio::test]
async fn reports_page_newest_first_with_an_opaque_cursor_and_count_unread() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup().await;
    let reports = stack.add_ecd_reports(&client.id, 7).await;
    let token = stack.login(&holder).await.access_token;
    let base = format!("/clients/{}/reports", client.id);

    let first = get(&router, &format!("{base}?limit=3"), &token).await;
    assert_eq!(first.body["unread"], 7, "{first:?}");
    let mut seen = ids(&first.body["reports"]);
    let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
    while let Some(next) = cursor {
        let page = get(&router, &format!("{base}?limit=3&cursor={next}"), &token).await;
        assert_eq!(page.status, 200, "{page:?}");
        seen.extend(ids(&page.body["reports"]));
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<String> = reports.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(seen, expected, "all reports, newest first, each once");

    // Reading the first page marked them read; a new one counts as unread.
    stack.add_ecd_reports(&client.id, 1).await;
    let again = get(&router, &base, &token).await;
    assert_eq!(again.body["unread"], 1);
    let after = get(&router, &base, &token).await;
    assert_eq!(after.body["unread"], 0);
}

#[tokio::test]
async fn bad_input_gets_a_problem_and_logs_no_access() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup().await;
    let token = stack.login(&holder).await.access_token;
    let base = format!("/clients/{}", client.id);
    let cases = [
        ("reports?cursor=garbage", "invalid_cursor"),
        // A cursor of another list (an access-log key) does not fit the reports.
        (
            &*format!(
                "reports?cursor={}",
                shared::listing::encode_cursor(&format!(
                    "EVENT#{}",
                    shared::types::EventId::generate()
                ))
            ),
            "invalid_cursor",
        ),
        ("reports?limit=0", "bad_request"),
        ("reports?limit=51", "bad_request"),
        ("reports?page=2", "bad_request"),
        ("agenda?from=2026-12-10&to=2026-12-01", "invalid_period"),
        ("agenda?from=2026-01-01&to=2026-12-01", "period_too_long"),
        ("agenda?from=tomorrow", "invalid_period"),
        (
            "access-log?from=2020-01-01&to=2026-01-01",
            "period_too_long",
        ),
        ("access-log?limit=201", "bad_request"),
    ];
    for (route, code) in cases {
        let reply = get(&router, &format!("{base}/{route}"), &token).await;
        assert_eq!(reply.status, 400, "{route}: {reply:?}");
        assert_eq!(reply.problem_code(), code, "{route}");
    }
    let bad_id = get(&router, "/clients/C%201001/overview", &token).await;
    assert_eq!(bad_id.status, 400);
    assert_eq!(bad_id.problem_code(), "invalid_field");
    let unknown = get(&router, "/clients/C-does-not-exist/overview", &token).await;
    assert_eq!(unknown.status, 403);
    assert_eq!(unknown.problem_code(), "client_forbidden");
    let no_plan = get(&router, &format!("{base}/care-plan"), &token).await;
    assert_eq!(no_plan.status, 404);
    assert_eq!(views(&stack, &client).await, 0);
}

#[tokio::test]
async fn the_agenda_shows_a_bounded_period_and_defaults_to_the_coming_month() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup().await;
    stack.add_daily_appointments(&client.id, -5, 60).await;
    let token = stack.login(&holder).await.access_token;
    let base = format!("/clients/{}/agenda", client.id);

    let coming = get(&router, &base, &token).await.body;
    let count = coming["appointments"].as_array().unwrap().len();
    assert!((29..=31).contains(&count), "about a month: {count}");

    let today = shared::time::now().date();
    let from = today + time::Duration::days(2);
    let to = today + time::Duration::days(5);
    let window = get(&router, &format!("{base}?from={from}&to={to}"), &token)
        .await
        .body;
    let starts: Vec<_> = window["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["starts_at"].as_str().unwrap()[..10].to_owned())
        .collect();
    let expected: Vec<String> = (2..5)
        .map(|d| (today + time::Duration::days(d)).to_string())
        .collect();
    assert_eq!(
        starts, expected,
        "[from, to): the day `to` starts is left out"
    );
}

#[tokio::test]
async fn the_access_log_shows_who_saw_what_newest_first_and_only_to_the_primary_holder() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup().await;
    stack.publish_care_plan(&client.id, 1).await;
    let daughter = stack
        .add_account(
            Role::AuthorisedUser,
            &[(&client, Relation::AuthorisedUser, &[Permission::Agenda])],
        )
        .await;
    let staff = stack.add_staff("noord").await;
    let base = format!("/clients/{}", client.id);
    let daughter_token = stack.login(&daughter).await.access_token;
    assert_eq!(
        get(&router, &format!("{base}/agenda"), &daughter_token)
            .await
            .status,
        200
    );
    let staff_token = stack.login(&staff).await.access_token;
    assert_eq!(
        get(&router, &format!("{base}/care-plan"), &staff_token)
            .await
            .status,
        200
    );

    let token = stack.login(&holder).await.access_token;
    let log = get(&router, &format!("{base}/access-log"), &token).await;
    assert_eq!(log.status, 200, "{log:?}");
    let entries = log.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    // Newest first: the care worker, then the daughter.
    assert_eq!(
        entries[0]["who"]["name"],
        staff.account.display_name.as_str()
    );
    assert_eq!(entries[0]["who"]["role"], "staff");
    assert_eq!(entries[0]["who"]["organisation"], "Oktober");
    assert_eq!(entries[0]["data"], "care_plan");
    assert_eq!(entries[0]["on_behalf_of"], Value::Null);
    assert_eq!(entries[1]["who"]["role"], "authorised_user");
    assert_eq!(entries[1]["data"], "agenda");
    assert_eq!(entries[1]["on_behalf_of"], client.display_name.as_str());
    assert_eq!(entries[1]["action"], "viewed");

    // A period before these reads holds none of them.
    let earlier = get(
        &router,
        &format!("{base}/access-log?from=2026-01-01&to=2026-02-01"),
        &token,
    )
    .await;
    assert_eq!(earlier.body["entries"].as_array().unwrap().len(), 0);

    // Paging: one at a time, the reading of the log itself now among them.
    let page = get(&router, &format!("{base}/access-log?limit=1"), &token)
        .await
        .body;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    assert_eq!(page["entries"][0]["data"], "access_log");
    assert!(page["next_cursor"].is_string());

    for who in [&daughter_token, &staff_token] {
        let refused = get(&router, &format!("{base}/access-log"), who).await;
        assert_eq!(refused.status, 403);
        assert_eq!(refused.problem_code(), "permission_missing");
    }
}

#[tokio::test]
async fn an_authorised_user_sees_only_the_sections_granted() {
    let Setup {
        stack,
        router,
        client,
        ..
    } = setup().await;
    stack.publish_care_plan(&client.id, 1).await;
    stack.add_ecd_reports(&client.id, 2).await;
    let daughter = stack
        .add_account(
            Role::AuthorisedUser,
            &[(&client, Relation::AuthorisedUser, &[Permission::Agenda])],
        )
        .await;
    let token = stack.login(&daughter).await.access_token;
    let overview = get(&router, &format!("/clients/{}/overview", client.id), &token).await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.get("care_plan").is_none());
    assert!(overview.body.get("latest_reports").is_none());
    assert!(overview.body["next_appointments"].is_array());
    assert!(overview.body["unread"].get("reports").is_none());
    for route in ["care-plan", "reports", "export"] {
        let reply = get(&router, &format!("/clients/{}/{route}", client.id), &token).await;
        assert_eq!(reply.status, 403, "{route}");
    }
}

#[tokio::test]
async fn the_export_is_the_whole_dossier_as_json_or_a_printable_page() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup().await;
    stack.publish_care_plan(&client.id, 1).await;
    stack.publish_care_plan(&client.id, 2).await;
    stack.add_ecd_reports(&client.id, 3).await;
    stack.add_daily_appointments(&client.id, 0, 3).await;
    let token = stack.login(&holder).await.access_token;
    let path = format!("/clients/{}/export", client.id);

    let json = get(&router, &path, &token).await;
    assert_eq!(json.status, 200);
    assert!(
        json.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with(&format!("attachment; filename=\"dossier-{}-", client.id))
    );
    assert_eq!(json.body["care_plan_versions"].as_array().unwrap().len(), 2);
    assert_eq!(json.body["reports"].as_array().unwrap().len(), 3);
    assert_eq!(json.body["appointments"].as_array().unwrap().len(), 3);
    assert!(json.body["access_log"].is_array());

    // A report with markup in it: the page shows it as text.
    let evil = shared::dossier::Report {
        text: "<script>alert(1)</script>".into(),
        ..stack.add_ecd_reports(&client.id, 1).await.remove(0)
    };
    let evil = shared::dossier::Report {
        id: shared::types::ReportId::generate(),
        ..evil
    };
    stack
        .store
        .add_ecd_reports(&client.id, &[evil])
        .await
        .unwrap();
    let mut html_request = request("GET", &path, None, Some(&token));
    html_request
        .headers_mut()
        .insert("accept", "text/html,application/xhtml+xml".parse().unwrap());
    let html = send(&router, html_request).await;
    assert_eq!(html.status, 200);
    assert!(
        html.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = html.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("style-src 'sha256-") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let page = html.body.as_str().unwrap();
    assert!(page.contains("Zorgleefplan versie 2"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>"));
    let exported = stack
        .client_audit(&client.id)
        .await
        .iter()
        .filter(|event| event.action == AuditAction::Exported)
        .count();
    assert_eq!(exported, 2);
}
