//! `POST /auth/verify`: step two of the login (Art 2.4). The SMS code turns the challenge into a
//! session with an access and a refresh token.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use shared::audit::Origin;
use shared::auth::flow::{CodeStep, IssuedTokens, LoginSettings};
use shared::auth::otp::CodeHasher;
use shared::auth::tokens::TokenSigner;
use shared::aws::SdkConfig;
use shared::config::{self, ConfigError};
use shared::http::{FunctionRouter, Routes, StrictJson};
use shared::problem::ApiResult;
use shared::store::Store;
use shared::types::{ChallengeId, OtpCode};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    challenge_id: String,
    code: String,
}

async fn verify(
    State(step): State<CodeStep>,
    origin: Origin,
    StrictJson(request): StrictJson<VerifyRequest>,
) -> ApiResult<Json<IssuedTokens>> {
    let challenge = ChallengeId::parse(&request.challenge_id)?;
    let code = OtpCode::parse(&request.code)?;
    step.run(&challenge, &code, &origin).await.map(Json)
}

pub fn router(step: CodeStep) -> FunctionRouter {
    Routes::default()
        .post("/auth/verify", verify)
        .with_state(step)
}

pub fn from_env(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    Ok(router(CodeStep {
        store: Store::from_env(sdk)?,
        codes: CodeHasher::new(config::secret("CODE_PEPPER")?),
        signer: TokenSigner::from_env()?,
        settings: LoginSettings::from_env()?,
    }))
}
