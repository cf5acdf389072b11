//! The account holder's own sessions (Art 2.5–2.6): list them, end one, end this one, end all.

use axum::Json;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use shared::audit::{AuditAction, Outcome};
use shared::auth::{Actor, Authenticator, PendingTermsActor};
use shared::aws::SdkConfig;
use shared::config::ConfigError;
use shared::http::{FunctionRouter, Routes};
use shared::problem::{ApiError, ApiResult};
use shared::store::{Epoch, Session, Store};
use shared::time::rfc3339;
use shared::types::SessionId;

#[derive(Clone, FromRef)]
pub struct SessionsState {
    pub store: Store,
    pub auth: Authenticator,
}

#[derive(Serialize)]
struct SessionView {
    id: SessionId,
    #[serde(with = "rfc3339")]
    created_at: time::OffsetDateTime,
    #[serde(with = "rfc3339")]
    last_refreshed_at: time::OffsetDateTime,
    #[serde(with = "rfc3339")]
    expires_at: time::OffsetDateTime,
    user_agent: Option<String>,
    source_ip: Option<String>,
    current: bool,
}

#[derive(Serialize)]
struct SessionList {
    sessions: Vec<SessionView>,
}

fn at(epoch: Epoch) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(epoch).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn view(session: Session, current: &SessionId) -> SessionView {
    SessionView {
        current: &session.id == current,
        id: session.id,
        created_at: at(session.created_at),
        last_refreshed_at: at(session.last_refreshed_at),
        expires_at: at(session.expires_at),
        user_agent: session.user_agent,
        source_ip: session.source_ip,
    }
}

/// The auth check already read every session of the account: no further request is needed.
async fn list(actor: Actor) -> Json<SessionList> {
    let current = actor.session.id.clone();
    let mut sessions: Vec<SessionView> = actor
        .other_sessions
        .into_iter()
        .chain(std::iter::once(actor.session))
        .map(|session| view(session, &current))
        .collect();
    sessions.sort_by_key(|session| std::cmp::Reverse(session.created_at));
    Json(SessionList { sessions })
}

async fn logout(
    State(store): State<Store>,
    PendingTermsActor(actor): PendingTermsActor,
) -> ApiResult<StatusCode> {
    let audit = actor.audit(AuditAction::Logout, Outcome::Success);
    store
        .end_session(&actor.account.id, &actor.session.id, &audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout_all(
    State(store): State<Store>,
    PendingTermsActor(actor): PendingTermsActor,
) -> ApiResult<StatusCode> {
    let ended = store.delete_all_sessions(&actor.account.id).await?;
    store
        .append_audit(
            &actor
                .audit(AuditAction::LogoutAll, Outcome::Success)
                .detail(format!("sessions={ended}")),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke(
    State(store): State<Store>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = SessionId::parse(&id)?;
    let audit = actor
        .audit(AuditAction::SessionRevoked, Outcome::Success)
        .detail(format!("session={id}"));
    if !store.end_session(&actor.account.id, &id, &audit).await? {
        return Err(ApiError::ResourceNotFound("the session"));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub fn router(state: SessionsState) -> FunctionRouter {
    Routes::default()
        .get("/auth/sessions", list)
        .delete("/auth/sessions/{id}", revoke)
        .post("/auth/logout", logout)
        .post("/auth/logout-all", logout_all)
        .with_state(state)
}

pub fn from_env(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    let store = Store::from_env(sdk)?;
    Ok(router(SessionsState {
        auth: Authenticator::from_env(store.clone())?,
        store,
    }))
}
