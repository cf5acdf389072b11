//! `POST /auth/refresh`: swaps a refresh token for a new pair. Tokens rotate; presenting one that
//! was already swapped ends the session.

use axum::Json;
use axum::extract::State;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use shared::audit::Origin;
use shared::auth::flow::{IssuedTokens, LoginSettings, RefreshStep};
use shared::auth::tokens::TokenSigner;
use shared::aws::SdkConfig;
use shared::config::ConfigError;
use shared::http::{FunctionRouter, Routes, StrictJson};
use shared::problem::ApiResult;
use shared::store::Store;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: SecretString,
}

async fn refresh(
    State(step): State<RefreshStep>,
    origin: Origin,
    StrictJson(request): StrictJson<RefreshRequest>,
) -> ApiResult<Json<IssuedTokens>> {
    step.run(request.refresh_token.expose_secret(), &origin)
        .await
        .map(Json)
}

pub fn router(step: RefreshStep) -> FunctionRouter {
    Routes::default()
        .post("/auth/refresh", refresh)
        .with_state(step)
}

pub fn from_env(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    Ok(router(RefreshStep {
        store: Store::from_env(sdk)?,
        signer: TokenSigner::from_env()?,
        settings: LoginSettings::from_env()?,
    }))
}
