//! Warm latency of every route, in process against moto, with the DynamoDB requests each makes:
//! the finished routers exactly as the functions serve them, on one fresh table.

use serde_json::json;
use shared::store::{Relation, Role};
use shared::testing::{PASSWORD, Reply, TestAccount, TestStack, app, request, send};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct RouteFigure {
    pub route: &'static str,
    pub samples: usize,
    pub p50: Duration,
    pub p99: Duration,
    /// The median of each call's time outside DynamoDB requests: our own code, the SDK's
    /// request building and parsing, the router and its layers.
    pub own_p50: Duration,
    pub dynamo_per_request: f64,
}

pub struct LoginCost {
    pub argon2_verify: Duration,
    pub whole_login: Duration,
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

struct Timer {
    times: Vec<Duration>,
    own_times: Vec<Duration>,
    calls: usize,
}

impl Timer {
    fn new() -> Self {
        Self {
            times: Vec::new(),
            own_times: Vec::new(),
            calls: 0,
        }
    }

    /// Times `call` and counts the DynamoDB requests it made, asserting its status; returns the
    /// reply and the time it took.
    async fn time(
        &mut self,
        stack: &TestStack,
        router: &axum::Router,
        request: axum::http::Request<axum::body::Body>,
        status: u16,
    ) -> (Reply, Duration) {
        stack.dynamo_calls.take();
        stack.dynamo_calls.take_busy();
        let started = Instant::now();
        let reply = send(router, request).await;
        let elapsed = started.elapsed();
        self.times.push(elapsed);
        self.own_times
            .push(elapsed.saturating_sub(stack.dynamo_calls.take_busy()));
        self.calls += stack.dynamo_calls.take();
        assert_eq!(reply.status.as_u16(), status, "{reply:?}");
        (reply, elapsed)
    }

    fn figure(mut self, route: &'static str) -> RouteFigure {
        self.times.sort();
        self.own_times.sort();
        RouteFigure {
            route,
            samples: self.times.len(),
            p50: percentile(&self.times, 0.5),
            p99: percentile(&self.times, 0.99),
            own_p50: percentile(&self.own_times, 0.5),
            dynamo_per_request: self.calls as f64 / self.times.len() as f64,
        }
    }
}

pub async fn routes(cheap: usize, costly: usize) -> (Vec<RouteFigure>, LoginCost) {
    let mut stack = TestStack::new().await;
    // The bench logs in far more often than any person may.
    stack.settings.sms_limits.per_account_per_hour = u32::MAX / 2;
    stack.settings.sms_limits.per_number_per_hour = u32::MAX / 2;
    let client = stack.add_client("bench").await;
    let user: TestAccount = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;

    let login = app(auth_login::router(stack.password_step()));
    let verify = app(auth_verify::router(stack.code_step()));
    let refresh = app(auth_refresh::router(stack.refresh_step()));
    let sessions = app(auth_sessions::router(auth_sessions::SessionsState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    let terms_router = app(terms::router(terms::TermsState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
        terms: Arc::new(stack.terms.clone()),
    }));
    let me_router = app(me::router(me::MeState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    let login_body = json!({"username": user.account.username, "password": PASSWORD}).to_string();
    let mut figures = Vec::new();

    let mut timer = Timer::new();
    for _ in 0..cheap {
        timer
            .time(
                &stack,
                &terms_router,
                request("GET", "/terms", None, None),
                200,
            )
            .await;
    }
    figures.push(timer.figure("GET /terms"));

    let tokens = stack.login(&user).await;
    let access = tokens.access_token.clone();
    for (route, router, path) in [
        ("GET /me", &me_router, "/me"),
        ("GET /auth/sessions", &sessions, "/auth/sessions"),
    ] {
        let mut timer = Timer::new();
        for _ in 0..cheap {
            timer
                .time(
                    &stack,
                    router,
                    request("GET", path, None, Some(&access)),
                    200,
                )
                .await;
        }
        figures.push(timer.figure(route));
    }

    let mut timer = Timer::new();
    let accept = json!({"version": shared::testing::TERMS_VERSION}).to_string();
    for _ in 0..cheap {
        timer
            .time(
                &stack,
                &terms_router,
                request("POST", "/terms/accept", Some(&accept), Some(&access)),
                200,
            )
            .await;
    }
    figures.push(timer.figure("POST /terms/accept"));

    let mut timer = Timer::new();
    let mut refresh_token = tokens.refresh_token.clone();
    for _ in 0..cheap {
        let body = json!({"refresh_token": refresh_token}).to_string();
        let (reply, _) = timer
            .time(
                &stack,
                &refresh,
                request("POST", "/auth/refresh", Some(&body), None),
                200,
            )
            .await;
        refresh_token = reply.body["refresh_token"]
            .as_str()
            .expect("a new token")
            .to_owned();
    }
    figures.push(timer.figure("POST /auth/refresh"));

    // Login and code: each code is read from moto between the two timed steps.
    let (mut password_timer, mut code_timer) = (Timer::new(), Timer::new());
    let mut whole = Vec::new();
    let mut spare_sessions = Vec::new();
    for _ in 0..costly {
        let (reply, password_time) = password_timer
            .time(
                &stack,
                &login,
                request("POST", "/auth/login", Some(&login_body), None),
                200,
            )
            .await;
        let code = stack.sms_code(&user.account.phone).await;
        let body =
            json!({"challenge_id": reply.body["challenge_id"], "code": code.as_str()}).to_string();
        let (reply, code_time) = code_timer
            .time(
                &stack,
                &verify,
                request("POST", "/auth/verify", Some(&body), None),
                200,
            )
            .await;
        whole.push(password_time + code_time);
        spare_sessions.push((
            reply.body["access_token"]
                .as_str()
                .expect("token")
                .to_owned(),
            reply.body["session_id"].as_str().expect("id").to_owned(),
        ));
    }
    figures.push(password_timer.figure("POST /auth/login"));
    figures.push(code_timer.figure("POST /auth/verify"));

    // Session-ending routes each use up a session made above.
    let mut timer = Timer::new();
    let third = spare_sessions.len() / 3;
    for (_, id) in spare_sessions.drain(..third) {
        let path = format!("/auth/sessions/{id}");
        timer
            .time(
                &stack,
                &sessions,
                request("DELETE", &path, None, Some(&access)),
                204,
            )
            .await;
    }
    figures.push(timer.figure("DELETE /auth/sessions/{id}"));
    let mut timer = Timer::new();
    for (token, _) in spare_sessions.drain(..third) {
        timer
            .time(
                &stack,
                &sessions,
                request("POST", "/auth/logout", None, Some(&token)),
                204,
            )
            .await;
    }
    figures.push(timer.figure("POST /auth/logout"));
    let mut timer = Timer::new();
    for _ in 0..third.max(1) {
        let fresh = stack.login(&user).await;
        timer
            .time(
                &stack,
                &sessions,
                request("POST", "/auth/logout-all", None, Some(&fresh.access_token)),
                204,
            )
            .await;
    }
    figures.push(timer.figure("POST /auth/logout-all"));

    // The dossier routes come last: during their thousands of reads moto grew to several GiB
    // (measured), and its /moto-api/data.json, which each login above reads for the SMS code,
    // slowed to minutes a call.
    // The dossier as the demo has it: a care plan, three pages of reports, a month of agenda.
    let access = stack.login(&user).await.access_token;
    stack.publish_care_plan(&client.id, 1).await;
    stack.add_ecd_reports(&client.id, 45).await;
    stack.add_daily_appointments(&client.id, -7, 38).await;
    let dossier = app(dossier_read::router(dossier_read::DossierState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
        organisation: "Oktober".into(),
    }));
    for (route, tail) in [
        ("GET /clients/{clientId}/overview", "overview"),
        ("GET /clients/{clientId}/care-plan", "care-plan"),
        (
            "GET /clients/{clientId}/care-plan/versions",
            "care-plan/versions",
        ),
        ("GET /clients/{clientId}/reports", "reports"),
        ("GET /clients/{clientId}/agenda", "agenda"),
        ("GET /clients/{clientId}/access-log", "access-log"),
        // The export holds the whole access log, which by now has every read above in it.
        ("GET /clients/{clientId}/export", "export"),
    ] {
        let path = format!("/clients/{}/{tail}", client.id);
        let mut timer = Timer::new();
        for _ in 0..cheap {
            timer
                .time(
                    &stack,
                    &dossier,
                    request("GET", &path, None, Some(&access)),
                    200,
                )
                .await;
        }
        figures.push(timer.figure(route));
    }
    let reports = app(reports_write::router(reports_write::ReportsState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    let mut timer = Timer::new();
    for n in 0..cheap {
        let mut write = request(
            "POST",
            &format!("/clients/{}/reports", client.id),
            Some(&json!({"text": format!("Rapportage {n}")}).to_string()),
            Some(&access),
        );
        write.headers_mut().insert(
            "idempotency-key",
            format!("bench-report-{n:08}")
                .parse()
                .expect("a valid header"),
        );
        timer.time(&stack, &reports, write, 201).await;
    }
    figures.push(timer.figure("POST /clients/{clientId}/reports"));

    // Each signature needs a version nobody has signed: one is published, untimed, before each.
    let sign = app(care_plan_sign::router(care_plan_sign::SignState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    let mut timer = Timer::new();
    for version in 2..costly as u32 + 2 {
        let plan = stack.publish_care_plan(&client.id, version).await;
        let body = json!({"version": version, "content_hash": plan.content_hash}).to_string();
        timer
            .time(
                &stack,
                &sign,
                request(
                    "POST",
                    &format!("/clients/{}/care-plan/signatures", client.id),
                    Some(&body),
                    Some(&access),
                ),
                201,
            )
            .await;
    }
    figures.push(timer.figure("POST /clients/{clientId}/care-plan/signatures"));

    // Argon2 alone, with the parameters in force.
    let mut argon = Vec::new();
    let stored = stack
        .store
        .get_account(&user.account.id)
        .await
        .expect("store")
        .expect("account")
        .password_hash;
    for _ in 0..costly {
        let started = Instant::now();
        let ok = shared::auth::password::verify(PASSWORD.into(), Some(stored.clone())).await;
        argon.push(started.elapsed());
        assert!(ok);
    }
    let measured: std::collections::BTreeSet<String> = figures
        .iter()
        .map(|figure| figure.route.to_owned())
        .collect();
    assert_eq!(
        measured,
        testkit::template_routes().expect("template.yaml's routes"),
        "every route of the template has a row, and no other"
    );
    argon.sort();
    whole.sort();
    (
        figures,
        LoginCost {
            argon2_verify: percentile(&argon, 0.5),
            whole_login: percentile(&whole, 0.5),
        },
    )
}
