//! The per-request actor: a bearer token checked against its server-side session, turned into
//! the account and the grants it acts with. Checked on every request, so logout, blocking and
//! closure take effect on the next one.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use std::sync::Arc;

use super::access::SessionRules;
use super::tokens::{AccessClaims, TokenVerifier};
use crate::audit::{AuditEvent, Origin};
use crate::config::{self, ConfigError};
use crate::problem::ApiError;
use crate::store::{Account, Epoch, Grant, Session, Store};

/// Default idle time-out of a session: it ends when not refreshed for this long.
pub const DEFAULT_IDLE_SECONDS: Epoch = 30 * 60;

#[derive(Clone)]
pub struct Authenticator {
    verifier: TokenVerifier,
    store: Store,
    current_terms: Arc<str>,
    idle_timeout: Epoch,
}

impl Authenticator {
    pub fn new(
        verifier: TokenVerifier,
        store: Store,
        current_terms: impl Into<Arc<str>>,
        idle_timeout: Epoch,
    ) -> Self {
        Self {
            verifier,
            store,
            current_terms: current_terms.into(),
            idle_timeout,
        }
    }

    pub fn from_env(store: Store) -> Result<Self, ConfigError> {
        Ok(Self::new(
            TokenVerifier::from_env()?,
            store,
            config::required("TERMS_VERSION")?,
            config::parsed_or("SESSION_IDLE_SECONDS", DEFAULT_IDLE_SECONDS)?,
        ))
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn idle_timeout(&self) -> Epoch {
        self.idle_timeout
    }

    pub(super) fn current_terms(&self) -> &str {
        &self.current_terms
    }

    /// The claims of the request's bearer token, if its signature and expiry check out.
    pub(super) fn claims(&self, parts: &Parts) -> Result<AccessClaims, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthenticated)?;
        self.verifier
            .verify(token.trim())
            .ok_or(ApiError::Unauthenticated)
    }

    async fn authenticate(&self, parts: &Parts) -> Result<Actor, ApiError> {
        let claims = self.claims(parts)?;
        let mut context = self
            .store
            .account_context(&claims.sub)
            .await?
            .ok_or(ApiError::SessionEnded)?;
        let position = context
            .sessions
            .iter()
            .position(|session| session.id == claims.sid)
            .ok_or(ApiError::SessionEnded)?;
        let session = context.sessions.swap_remove(position);
        let rules = SessionRules {
            now: crate::time::now().unix_timestamp(),
            idle_timeout: self.idle_timeout,
            current_terms: &self.current_terms,
        };
        rules.check(&context.account, &session)?;
        let terms_accepted = rules.terms_accepted(&context.account);
        Ok(Actor {
            account: context.account,
            grants: context.grants,
            session,
            other_sessions: context.sessions,
            origin: Origin::from_parts(parts),
            terms_accepted,
        })
    }
}

/// Someone with a live session who has accepted the current terms of use.
#[derive(Debug, Clone)]
pub struct Actor {
    pub account: Account,
    pub grants: Vec<Grant>,
    pub session: Session,
    /// The account's other sessions, read with the same request as this one.
    pub other_sessions: Vec<Session>,
    pub origin: Origin,
    terms_accepted: bool,
}

impl Actor {
    /// An audit entry with this actor, their role, session and origin filled in.
    pub fn audit(
        &self,
        action: crate::audit::AuditAction,
        outcome: crate::audit::Outcome,
    ) -> AuditEvent {
        AuditEvent::new(
            action,
            outcome,
            crate::time::now().unix_timestamp(),
            &self.origin,
        )
        .actor(&self.account.id)
        .role(self.account.role)
        .session(&self.session.id)
    }
}

impl<S> FromRequestParts<S> for Actor
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let actor = Authenticator::from_ref(state).authenticate(parts).await?;
        if !actor.terms_accepted {
            return Err(ApiError::TermsNotAccepted);
        }
        Ok(actor)
    }
}

/// Someone with a live session, whether or not they have accepted the current terms: only for
/// the routes that such a session may use (accepting the terms, logging out).
#[derive(Debug, Clone)]
pub struct PendingTermsActor(pub Actor);

impl<S> FromRequestParts<S> for PendingTermsActor
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Authenticator::from_ref(state)
            .authenticate(parts)
            .await
            .map(PendingTermsActor)
    }
}
