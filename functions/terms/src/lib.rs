//! The terms of use (Art 1.4, 5.3–5.4): `GET /terms` for anyone, `POST /terms/accept` for a
//! session that must accept the version in force before anything else works.

use axum::Json;
use axum::extract::{FromRef, State};
use serde::{Deserialize, Serialize};
use shared::auth::{Authenticator, PendingTermsActor};
use shared::aws::SdkConfig;
use shared::config::ConfigError;
use shared::http::{FunctionRouter, Routes, StrictJson};
use shared::problem::ApiResult;
use shared::store::Store;
use shared::terms::TermsConfig;
use shared::time::rfc3339;
use std::sync::Arc;

#[derive(Clone, FromRef)]
pub struct TermsState {
    pub store: Store,
    pub auth: Authenticator,
    pub terms: Arc<TermsConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    version: String,
}

#[derive(Serialize)]
struct Accepted {
    version: String,
    #[serde(with = "rfc3339")]
    accepted_at: time::OffsetDateTime,
}

async fn current(State(terms): State<Arc<TermsConfig>>) -> Json<Arc<TermsConfig>> {
    Json(terms)
}

async fn accept(
    State(state): State<TermsState>,
    PendingTermsActor(actor): PendingTermsActor,
    StrictJson(request): StrictJson<AcceptRequest>,
) -> ApiResult<Json<Accepted>> {
    let at =
        shared::terms::accept(&state.store, &actor, &state.terms.version, &request.version).await?;
    Ok(Json(Accepted {
        version: state.terms.version.clone(),
        accepted_at: time::OffsetDateTime::from_unix_timestamp(at)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    }))
}

pub fn router(state: TermsState) -> FunctionRouter {
    Routes::default()
        .get("/terms", current)
        .post("/terms/accept", accept)
        .with_state(state)
}

pub fn from_env(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    let store = Store::from_env(sdk)?;
    Ok(router(TermsState {
        auth: Authenticator::from_env(store.clone())?,
        store,
        terms: Arc::new(TermsConfig::from_env()?),
    }))
}
