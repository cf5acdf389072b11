//! The append-only audit log (NEN 7513): who did what, for which client and on whose behalf,
//! when, from where, and with what outcome. Entries are written with a condition that they do
//! not exist yet and no code path updates or deletes them.

use serde::{Deserialize, Serialize};

use crate::store::{Epoch, Role};
use crate::types::{AccountId, ClientId, EventId, SessionId, Username};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    LoginFailed,
    LoginRefused,
    LoginLockedOut,
    SmsSent,
    SmsFailed,
    SmsLimitReached,
    CodeRejected,
    ChallengeExhausted,
    LoginSucceeded,
    TermsAgreed,
    TermsAccepted,
    RefreshTokenReused,
    Logout,
    LogoutAll,
    SessionRevoked,
    /// A dossier route showed data of the client.
    Viewed,
    /// The dossier was downloaded (Art 5.2).
    Exported,
    /// A report was added in the portal.
    ReportWritten,
    /// The care plan was signed.
    CarePlanSigned,
    /// The daily sweep took an account's access to a closed client away (Art 4.1); the
    /// account itself is closed when that was its last client.
    AccountClosed,
    /// The daily sweep closed the client's portal (Art 4.1).
    ClientClosed,
    /// The portal's copy of a closed client's dossier was deleted after the retention.
    DossierPurged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

/// Where a request came from, as far as the API can tell.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: EventId,
    pub at: Epoch,
    pub action: AuditAction,
    pub outcome: Outcome,
    /// The account that acted; absent when a login named an unknown user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_role: Option<Role>,
    /// The actor's name at the time, for the client's view of the access log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// The username a failed login named, kept only when no account has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted_username: Option<Username>,
    /// The client whose data was concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientId>,
    /// The client the actor acted for, when acting as representative or authorised user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ClientId>,
    /// What kind of data was concerned (e.g. `care_plan`), for dossier events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    #[serde(flatten)]
    pub origin: Origin,
    /// A short machine-readable note, e.g. the terms version or a lockout's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(action: AuditAction, outcome: Outcome, at: Epoch, origin: &Origin) -> Self {
        Self {
            id: EventId::generate(),
            at,
            action,
            outcome,
            actor: None,
            actor_role: None,
            actor_name: None,
            attempted_username: None,
            client: None,
            on_behalf_of: None,
            data_category: None,
            session: None,
            origin: origin.clone(),
            detail: None,
        }
    }

    pub fn actor(mut self, account: &AccountId) -> Self {
        self.actor = Some(account.clone());
        self
    }

    pub fn role(mut self, role: Role) -> Self {
        self.actor_role = Some(role);
        self
    }

    pub fn actor_name(mut self, name: &str) -> Self {
        self.actor_name = Some(name.to_owned());
        self
    }

    /// The client whose data this concerns, what part of it, and whether the actor acted on
    /// the client's behalf (as representative or authorised user) rather than as themselves.
    pub fn concerning(
        mut self,
        client: &ClientId,
        category: crate::dossier::DataCategory,
        on_behalf: bool,
    ) -> Self {
        self.client = Some(client.clone());
        self.data_category = Some(category.as_str().to_owned());
        self.on_behalf_of = on_behalf.then(|| client.clone());
        self
    }

    pub fn attempted_username(mut self, username: &Username) -> Self {
        self.attempted_username = Some(username.clone());
        self
    }

    pub fn session(mut self, session: &SessionId) -> Self {
        self.session = Some(session.clone());
        self
    }

    /// An entry about the client as a whole, not about one kind of data.
    pub fn about_client(mut self, client: &ClientId) -> Self {
        self.client = Some(client.clone());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl Origin {
    /// The caller's address and user agent: from API Gateway's request context in Lambda, from
    /// the socket when served locally.
    pub fn from_parts(parts: &axum::http::request::Parts) -> Self {
        let from_gateway = parts
            .extensions
            .get::<lambda_http::request::RequestContext>()
            .and_then(|context| match context {
                lambda_http::request::RequestContext::ApiGatewayV2(context) => {
                    context.http.source_ip.clone()
                }
                _ => None,
            });
        let from_socket = || {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip().to_string())
        };
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(200).collect());
        Self {
            source_ip: from_gateway.or_else(from_socket),
            user_agent,
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Origin::from_parts(parts))
    }
}
