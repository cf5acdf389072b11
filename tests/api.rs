//! The whole API over HTTP, as a portal frontend uses it: the local stack on a free port, moto
//! behind it, SMS codes read from moto. Run by `infra/test.sh`.

use futures_util::FutureExt;
use local_stack::demo::DEMO_PASSWORD;
use serde_json::{Value, json};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

struct Api {
    base: String,
    moto: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        self.call_with(method, path, body, token, &[]).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the local API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Logs in with password and the SMS code moto received; returns the token response.
    async fn login(&self, username: &str, phone: &str) -> Value {
        let (status, started) = self
            .call(
                "POST",
                "/auth/login",
                Some(json!({"username": username, "password": DEMO_PASSWORD})),
                None,
            )
            .await;
        assert_eq!(status, 200, "{started}");
        let code = testkit::latest_code(&self.moto, phone)
            .await
            .unwrap()
            .expect("an SMS was sent");
        let (status, tokens) = self
            .call(
                "POST",
                "/auth/verify",
                Some(json!({"challenge_id": started["challenge_id"], "code": code})),
                None,
            )
            .await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }
}

type Test = for<'a> fn(&'a Api) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

fn routes_are_the_same_in_the_template_the_local_api_and_the_openapi_description(
    _: &Api,
) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async {
        let sdk = shared::aws::load().expect("AWS_CA_BUNDLE, if set, is a bundle");
        let local: std::collections::BTreeSet<String> = local_stack::functions(&sdk)
            .unwrap()
            .routes
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            testkit::template_routes().unwrap(),
            local,
            "template.yaml and the local API differ"
        );
        assert_eq!(
            testkit::openapi_routes().unwrap(),
            local,
            "infra/openapi.yaml and the local API differ"
        );
    })
}

fn a_client_logs_in_reads_their_account_refreshes_and_logs_out(
    api: &Api,
) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let (status, terms) = api.call("GET", "/terms", None, None).await;
        assert_eq!(status, 200);
        assert_eq!(terms["version"], "2.0");

        let tokens = api.login("anna.devries", "+31610000001").await;
        assert_eq!(tokens["terms_acceptance_required"], false);
        let access = tokens["access_token"].as_str().unwrap();
        let (status, me) = api.call("GET", "/me", None, Some(access)).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["account"]["username"], "anna.devries");
        assert_eq!(me["clients"][0]["client_id"], "C-1001");
        assert_eq!(me["clients"][0]["relation"], "client_self");

        let (status, sessions) = api.call("GET", "/auth/sessions", None, Some(access)).await;
        assert_eq!(status, 200);
        let mine = sessions["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .unwrap()
            .clone();
        assert_eq!(mine["source_ip"], "127.0.0.1");

        let (status, refreshed) = api
            .call(
                "POST",
                "/auth/refresh",
                Some(json!({"refresh_token": tokens["refresh_token"]})),
                None,
            )
            .await;
        assert_eq!(status, 200);
        let access = refreshed["access_token"].as_str().unwrap();
        let (status, _) = api.call("POST", "/auth/logout", None, Some(access)).await;
        assert_eq!(status, 204);
        let (status, problem) = api.call("GET", "/me", None, Some(access)).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (401, Some("session_ended"))
        );
    })
}

fn a_user_without_the_current_terms_must_accept_them_first(
    api: &Api,
) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let tokens = api.login("kees.bakker", "+31610000006").await;
        assert_eq!(tokens["terms_acceptance_required"], true);
        let access = tokens["access_token"].as_str().unwrap();
        let (status, problem) = api.call("GET", "/me", None, Some(access)).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("terms_not_accepted"))
        );
        let (status, accepted) = api
            .call(
                "POST",
                "/terms/accept",
                Some(json!({"version": "2.0"})),
                Some(access),
            )
            .await;
        assert_eq!(status, 200, "{accepted}");
        let (status, _) = api.call("GET", "/me", None, Some(access)).await;
        assert_eq!(status, 200);
    })
}

fn staff_see_their_team_and_admins_no_dossier(api: &Api) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let staff = api.login("fleur.zorg", "+31610000004").await;
        let (_, me) = api
            .call("GET", "/me", None, staff["access_token"].as_str())
            .await;
        let mut ids: Vec<&str> = me["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, ["C-1001", "C-1002"]);
        let admin = api.login("beheer", "+31610000005").await;
        let (_, me) = api
            .call("GET", "/me", None, admin["access_token"].as_str())
            .await;
        assert_eq!(me["clients"], json!([]));
    })
}

/// Every dossier route, as (method, path after `/clients/{id}`).
const DOSSIER_ROUTES: [(&str, &str); 9] = [
    ("GET", "overview"),
    ("GET", "care-plan"),
    ("GET", "care-plan/versions"),
    ("GET", "reports"),
    ("GET", "agenda"),
    ("GET", "access-log"),
    ("GET", "export"),
    ("POST", "care-plan/signatures"),
    ("POST", "reports"),
];

/// One dossier route for `client`, with a body that passes validation where it needs one.
async fn attempt(
    api: &Api,
    client: &str,
    (method, tail): (&str, &str),
    token: Option<&str>,
    n: usize,
) -> (u16, Value) {
    let path = format!("/clients/{client}/{tail}");
    let body = match tail {
        "care-plan/signatures" => Some(json!({"version": 999, "content_hash": "sha256:00"})),
        "reports" if method == "POST" => Some(json!({"text": "Vanuit de rechtentest."})),
        _ => None,
    };
    let key = format!("matrix-{client}-{n}-{}", std::process::id());
    api.call_with(method, &path, body, token, &[("idempotency-key", &key)])
        .await
}

/// Every role against every dossier route, with its own client's id and another's. The expected
/// statuses follow DOSSIER_ROUTES; a signature of a version that is not current answers 409 to
/// whoever may sign, which shows the request got past authorisation without signing anything.
fn every_role_meets_every_dossier_route_with_its_own_and_another_clients_id(
    api: &Api,
) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let forbidden = [403; 9];
        // (username, phone, own client, another client, statuses for the own client)
        let cases: [(&str, &str, &str, &str, [u16; 9]); 5] = [
            (
                "anna.devries",
                "+31610000001",
                "C-1001",
                "C-1002",
                [200, 200, 200, 200, 200, 200, 200, 409, 201],
            ),
            (
                "piet.jansen",
                "+31610000002",
                "C-1002",
                "C-1001",
                [200, 200, 200, 200, 200, 200, 200, 409, 201],
            ),
            (
                // Granted agenda, messages and reading reports.
                "sanne.devries",
                "+31610000003",
                "C-1001",
                "C-1002",
                [200, 403, 403, 200, 200, 403, 403, 403, 403],
            ),
            (
                // Team noord: reads what the portal shows, writes and signs nothing.
                "fleur.zorg",
                "+31610000004",
                "C-1001",
                "C-2001",
                [200, 200, 200, 200, 200, 403, 403, 403, 403],
            ),
            ("beheer", "+31610000005", "C-1001", "C-2001", forbidden),
        ];
        let mut n = 0;
        for (username, phone, own, other, expected) in cases {
            let tokens = api.login(username, phone).await;
            let token = tokens["access_token"].as_str();
            for (route, (own_status, other_status)) in DOSSIER_ROUTES
                .into_iter()
                .zip(expected.into_iter().zip(forbidden))
            {
                n += 1;
                let (status, body) = attempt(api, own, route, token, n).await;
                assert_eq!(status, own_status, "{username} {route:?} {own}: {body}");
                let (status, body) = attempt(api, other, route, token, n).await;
                assert_eq!(status, other_status, "{username} {route:?} {other}: {body}");
                assert_eq!(
                    body["code"], "client_forbidden",
                    "{username} {route:?} {other}"
                );
            }
        }
        for route in DOSSIER_ROUTES {
            let (status, _) = attempt(api, "C-1001", route, None, 0).await;
            assert_eq!(status, 401, "{route:?} without a token");
        }
    })
}

fn browsers_from_the_portal_origin_pass_cors_and_others_do_not(
    api: &Api,
) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let preflight = |origin: &'static str| {
            api.http
                .request(reqwest::Method::OPTIONS, format!("{}/auth/login", api.base))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
        };
        let allowed = preflight("http://localhost:5173").await.unwrap();
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "http://localhost:5173"
        );
        let other = preflight("https://evil.example").await.unwrap();
        assert!(!other.headers().contains_key("access-control-allow-origin"));
    })
}

fn the_first_sync_and_sweep_shaped_the_demo(api: &Api) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        // C-1003 died on 14 November: the sweep closed his representative's account and the
        // client's portal. With the right password the login says the account cannot be used.
        let (status, refused) = api
            .call(
                "POST",
                "/auth/login",
                Some(json!({"username": "jan.smit", "password": DEMO_PASSWORD})),
                None,
            )
            .await;
        assert_eq!(status, 403, "{refused}");
        assert_eq!(refused["code"], "account_unavailable");
        // The sync brought C-1001 six reports and gave C-1002 version 2 of the care plan.
        let anna = api.login("anna.devries", "+31610000001").await;
        let (status, overview) = api
            .call(
                "GET",
                "/clients/C-1001/overview",
                None,
                anna["access_token"].as_str(),
            )
            .await;
        assert_eq!(status, 200, "{overview}");
        assert_eq!(
            overview["client"]["display_name"], "Anna de Vries",
            "{overview}"
        );
        assert!(overview["synced_at"].is_string());
        let piet = api.login("piet.jansen", "+31610000002").await;
        let (status, plan) = api
            .call(
                "GET",
                "/clients/C-1002/care-plan",
                None,
                piet["access_token"].as_str(),
            )
            .await;
        assert_eq!(status, 200, "{plan}");
        assert_eq!(plan["care_plan"]["version"], 2, "{plan}");
        assert_eq!(plan["signable"], true, "{plan}");
    })
}

fn main() {
    // Before any thread: a table of its own, and free ports.
    let table = format!("e2e-{}", std::process::id());
    let ecd_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port().to_string())
        .unwrap();
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var("TABLE_NAME", &table);
        std::env::set_var("ECD_PORT", &ecd_port);
        std::env::remove_var("ECD_BASE_URL");
    }
    local_stack::prepare_environment();
    let moto = testkit::moto_endpoint();

    let tests: &[(&str, Test)] = &[
        (
            "routes_are_the_same_in_the_template_the_local_api_and_the_openapi_description",
            routes_are_the_same_in_the_template_the_local_api_and_the_openapi_description,
        ),
        (
            "a_client_logs_in_reads_their_account_refreshes_and_logs_out",
            a_client_logs_in_reads_their_account_refreshes_and_logs_out,
        ),
        (
            "a_user_without_the_current_terms_must_accept_them_first",
            a_user_without_the_current_terms_must_accept_them_first,
        ),
        (
            "staff_see_their_team_and_admins_no_dossier",
            staff_see_their_team_and_admins_no_dossier,
        ),
        (
            "every_role_meets_every_dossier_route_with_its_own_and_another_clients_id",
            every_role_meets_every_dossier_route_with_its_own_and_another_clients_id,
        ),
        (
            "browsers_from_the_portal_origin_pass_cors_and_others_do_not",
            browsers_from_the_portal_origin_pass_cors_and_others_do_not,
        ),
        (
            "the_first_sync_and_sweep_shaped_the_demo",
            the_first_sync_and_sweep_shaped_the_demo,
        ),
    ];

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (passed, failed) = runtime.block_on(async {
        let sdk = shared::aws::load().expect("AWS_CA_BUNDLE, if set, is a bundle");
        let store = shared::store::Store::from_env(&sdk).unwrap();
        testkit::create_table(store.client(), store.table())
            .await
            .unwrap();
        local_stack::demo::seed(&store, "2.0").await.unwrap();
        // The local ECD, and the first sync and sweep, as the local stack runs them.
        let schedules = local_stack::start_schedules(&sdk).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = local_stack::app(local_stack::functions(&sdk).unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(local_stack::serve(listener, app, async {
            let _ = stopped.await;
        }));
        let api = Api {
            base,
            moto,
            http: testkit::http(),
        };

        let (mut passed, mut failed) = (0, 0);
        for (name, test) in tests {
            // A failed assertion is reported and the next test runs.
            let outcome = AssertUnwindSafe(test(&api)).catch_unwind().await;
            if outcome.is_ok() {
                passed += 1;
                println!("test {name} ... ok");
            } else {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
        let _ = stop.send(());
        let _ = server.await;
        drop(schedules);
        (passed, failed)
    });
    println!("\ne2e: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
