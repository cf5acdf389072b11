//! The local stack: the same routers the Lambda functions serve, mounted on one port, against
//! moto, with demo data, showing the SMS and e-mail it "sent".

pub mod demo;

use axum::Router;
use secrecy::ExposeSecret;
use shared::aws::SdkConfig;
use shared::config::ConfigError;
use shared::http::{FunctionRouter, HttpConfig, finish};
use shared::schedule::ScheduledJob;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Local defaults for every variable the functions read; a variable already set wins.
fn local_defaults() -> BTreeMap<&'static str, String> {
    let (signing_key, public_key) = shared::auth::tokens::generate_key_pair();
    let pepper: [u8; 32] = rand::random();
    BTreeMap::from([
        ("TABLE_NAME", "client-portal-local".to_owned()),
        ("ORGANISATION_NAME", "Oktober".to_owned()),
        ("TERMS_VERSION", "2.0".to_owned()),
        (
            "TERMS_URL",
            "https://www.oktober.nl/gebruikersvoorwaarden-clientportaal".to_owned(),
        ),
        (
            "PRIVACY_URL",
            "https://www.oktober.nl/privacyreglement".to_owned(),
        ),
        (
            "COMPLAINTS_URL",
            "https://www.oktober.nl/klachtenreglement".to_owned(),
        ),
        (
            "GENERAL_TERMS_URL",
            "https://www.oktober.nl/algemene-voorwaarden".to_owned(),
        ),
        ("CORS_ALLOWED_ORIGINS", "http://localhost:5173".to_owned()),
        ("JWT_SIGNING_KEY", signing_key.expose_secret().to_owned()),
        ("JWT_PUBLIC_KEY", public_key),
        (
            "CODE_PEPPER",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pepper),
        ),
        ("PORTAL_PORT", "3000".to_owned()),
        ("ECD_PORT", "3080".to_owned()),
        ("SYNC_PERIOD_SECONDS", "3600".to_owned()),
    ])
}

/// Fills in what the environment does not set, with fresh keys for this run only, and returns
/// the whole configuration (for `sam local start-api --env-vars`).
///
/// Call before any thread starts: it writes the process environment.
pub fn prepare_environment() -> BTreeMap<&'static str, String> {
    let mut settled = BTreeMap::new();
    for (name, default) in local_defaults() {
        let value = std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| {
                // SAFETY: called from `main` before the runtime or any other thread exists.
                unsafe { std::env::set_var(name, &default) };
                default
            });
        settled.insert(name, value);
    }
    // The sync reads the local ECD unless another is named.
    let ecd = std::env::var("ECD_BASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("http://127.0.0.1:{}/fhir", settled["ECD_PORT"]));
    // SAFETY: as above, before any other thread exists.
    unsafe { std::env::set_var("ECD_BASE_URL", &ecd) };
    settled.insert("ECD_BASE_URL", ecd);
    settled
}

/// The local ECD (a FHIR server with the recorded demo data on 127.0.0.1:$ECD_PORT), and the
/// scheduled functions' jobs built exactly as their Lambdas build them: the sync runs now and
/// every `SYNC_PERIOD_SECONDS`, the sweep now and every day. Dropping the handle stops it all.
pub struct Schedules {
    _ecd: testkit::fhir::FhirServer,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Schedules {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub async fn start_schedules(sdk: &SdkConfig) -> Result<Schedules, Box<dyn std::error::Error>> {
    let port: u16 = shared::config::parsed_or("ECD_PORT", 3080)?;
    let ecd = testkit::fhir::FhirServer::start_on(port, testkit::fhir::demo_resources()?).await?;
    let period =
        std::time::Duration::from_secs(shared::config::parsed_or("SYNC_PERIOD_SECONDS", 3600)?);
    let sync = ecd_sync::from_env(sdk)?;
    let sweep = closure_sweep::from_env(sdk)?;
    let every = |period: std::time::Duration| {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    };
    let mut sync_ticks = every(period);
    let mut sweep_ticks = every(std::time::Duration::from_secs(24 * 3600));
    // The first sync completes before the first sweep, so the sweep sees what the ECD says.
    sync_ticks.tick().await;
    report("ECD sync", sync.run(shared::time::now()).await);
    sweep_ticks.tick().await;
    report("closure sweep", sweep.run(shared::time::now()).await);
    let tasks = vec![
        tokio::spawn(async move {
            loop {
                sync_ticks.tick().await;
                report("ECD sync", sync.run(shared::time::now()).await);
            }
        }),
        tokio::spawn(async move {
            loop {
                sweep_ticks.tick().await;
                report("closure sweep", sweep.run(shared::time::now()).await);
            }
        }),
    ];
    Ok(Schedules { _ecd: ecd, tasks })
}

fn report<R: serde::Serialize, E: std::fmt::Display>(job: &str, outcome: Result<R, E>) {
    match outcome {
        Ok(report) => println!(
            "⏱  {job}: {}",
            serde_json::to_string(&report).unwrap_or_default()
        ),
        Err(err) => println!("⏱  {job} failed: {err}"),
    }
}

/// Every HTTP function's router, built from the environment exactly as its Lambda builds it.
pub fn functions(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    Ok(auth_login::from_env(sdk)?
        .merge(auth_verify::from_env(sdk)?)
        .merge(auth_refresh::from_env(sdk)?)
        .merge(auth_sessions::from_env(sdk)?)
        .merge(terms::from_env(sdk)?)
        .merge(me::from_env(sdk)?)
        .merge(dossier_read::from_env(sdk)?)
        .merge(care_plan_sign::from_env(sdk)?)
        .merge(reports_write::from_env(sdk)?))
}

pub fn app(functions: FunctionRouter) -> Router {
    finish(functions, &HttpConfig::from_env())
}

/// Serves `app` on `listener` until `shutdown` resolves; callers' addresses reach the audit log.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Prints every SMS and e-mail moto accepts from now on, until the task is dropped.
pub async fn print_outbox(moto: String) {
    let mut seen = (0, 0);
    if let Ok(outbox) = testkit::outbox(&moto).await {
        seen = (outbox.sms.len(), outbox.email.len());
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let Ok(outbox) = testkit::outbox(&moto).await else {
            continue;
        };
        for sms in outbox.sms.iter().skip(seen.0) {
            println!("📱 SMS to {}: {}", sms.phone_number, sms.message);
        }
        for email in outbox.email.iter().skip(seen.1) {
            println!(
                "✉️  E-mail from {} to {}: {}\n{}",
                email.source,
                email.destinations,
                email.subject.as_deref().unwrap_or(""),
                email.body.as_deref().unwrap_or("")
            );
        }
        seen = (outbox.sms.len(), outbox.email.len());
    }
}

/// The environment file for `sam local start-api --env-vars`: every function gets the local
/// configuration, with endpoints that reach moto from inside SAM's containers.
pub fn sam_env_vars(
    settled: &BTreeMap<&'static str, String>,
    moto_port: &str,
) -> serde_json::Value {
    let mut vars: serde_json::Map<String, serde_json::Value> = settled
        .iter()
        .filter(|(name, _)| !matches!(**name, "PORTAL_PORT" | "ECD_PORT" | "SYNC_PERIOD_SECONDS"))
        .map(|(name, value)| {
            // Inside SAM's containers the host's loopback is host.docker.internal.
            let value = value.replace("127.0.0.1", "host.docker.internal");
            (name.to_string(), value.into())
        })
        .collect();
    vars.insert(
        "AWS_ENDPOINT_URL".into(),
        format!("http://host.docker.internal:{moto_port}").into(),
    );
    serde_json::json!({ "Parameters": vars })
}
