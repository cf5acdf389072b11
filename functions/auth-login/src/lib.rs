//! `POST /auth/login`: step one of the login (Art 2.4). Checks the password and sends the SMS
//! code; answers the same for an unknown user as for a wrong password.

use axum::Json;
use axum::extract::State;
use secrecy::SecretString;
use serde::Deserialize;
use shared::audit::Origin;
use shared::auth::flow::{ChallengeStarted, LoginSettings, PasswordStep};
use shared::auth::otp::CodeHasher;
use shared::aws::SdkConfig;
use shared::config::{self, ConfigError};
use shared::http::{FunctionRouter, Routes, StrictJson};
use shared::notify::SmsSender;
use shared::problem::ApiResult;
use shared::store::Store;
use shared::types::Username;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: SecretString,
}

async fn login(
    State(step): State<PasswordStep>,
    origin: Origin,
    StrictJson(request): StrictJson<LoginRequest>,
) -> ApiResult<Json<ChallengeStarted>> {
    let username = Username::parse(&request.username)?;
    step.run(&username, request.password, &origin)
        .await
        .map(Json)
}

pub fn router(step: PasswordStep) -> FunctionRouter {
    Routes::default()
        .post("/auth/login", login)
        .with_state(step)
}

pub fn from_env(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    Ok(router(PasswordStep {
        store: Store::from_env(sdk)?,
        sms: SmsSender::from_env(sdk)?,
        codes: CodeHasher::new(config::secret("CODE_PEPPER")?),
        settings: LoginSettings::from_env()?,
    }))
}
