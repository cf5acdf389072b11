//! The local stack: the same routers the Lambda functions serve, mounted on one port, against
//! moto, with demo data, showing the SMS and e-mail it "sent".

pub mod demo;

use axum::Router;
use secrecy::ExposeSecret;
use shared::aws::SdkConfig;
use shared::config::ConfigError;
use shared::http::{FunctionRouter, HttpConfig, finish};
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
    settled
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
        .filter(|(name, _)| **name != "PORTAL_PORT")
        .map(|(name, value)| (name.to_string(), value.clone().into()))
        .collect();
    vars.insert(
        "AWS_ENDPOINT_URL".into(),
        format!("http://host.docker.internal:{moto_port}").into(),
    );
    serde_json::json!({ "Parameters": vars })
}
