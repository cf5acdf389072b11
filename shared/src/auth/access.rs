//! Authorisation for the routes about one client (`/clients/{clientId}/…`): from the session's
//! grants, scoped to that client. The token is checked when the request is extracted; the
//! session, the grant and the client are read together by [`ClientRequest::authorise`], which a
//! route may run alongside the read of its own data.

use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::request::Parts;
use std::collections::HashMap;

use super::Authenticator;
use super::tokens::AccessClaims;
use crate::audit::{AuditAction, AuditEvent, Origin, Outcome};
use crate::dossier::DataCategory;
use crate::problem::{ApiError, ApiResult};
use crate::store::{
    Account, Client, ClientAccessItems, Epoch, Permission, Relation, Role, Session, Store,
};
use crate::types::ClientId;

/// A request with a valid bearer token, naming a client in its path.
pub struct ClientRequest {
    claims: AccessClaims,
    client: ClientId,
    origin: Origin,
    authenticator: Authenticator,
}

impl<S> FromRequestParts<S> for ClientRequest
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authenticator = Authenticator::from_ref(state);
        let claims = authenticator.claims(parts)?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let client = ClientId::parse(params.get("clientId").map_or("", |id| id))?;
        Ok(Self {
            claims,
            client,
            origin: Origin::from_parts(parts),
            authenticator,
        })
    }
}

impl ClientRequest {
    pub fn client_id(&self) -> &ClientId {
        &self.client
    }

    /// Checks the session and the caller's access to the client, and that it includes `needs`
    /// (any access at all when `None`).
    pub async fn authorise(&self, needs: Option<Permission>) -> ApiResult<ClientActor> {
        let store: &Store = self.authenticator.store();
        let items = store
            .client_access(&self.claims.sub, &self.claims.sid, &self.client)
            .await?;
        let now = crate::time::now().unix_timestamp();
        let rules = SessionRules {
            now,
            idle_timeout: self.authenticator.idle_timeout(),
            current_terms: self.authenticator.current_terms(),
        };
        let actor = decide(items, &rules, self.origin.clone())?;
        match needs {
            Some(permission) if !actor.may(permission) => {
                Err(ApiError::PermissionMissing(permission))
            }
            _ => Ok(actor),
        }
    }
}

/// What a session must satisfy to be used.
pub(super) struct SessionRules<'a> {
    pub now: Epoch,
    pub idle_timeout: Epoch,
    pub current_terms: &'a str,
}

impl SessionRules<'_> {
    /// Whether `session` of `account` may be used now; terms are checked separately so that
    /// some routes can let a session through to accept them.
    pub fn check(&self, account: &Account, session: &Session) -> ApiResult<()> {
        if session.is_live(self.now, self.idle_timeout) && account.can_log_in() {
            Ok(())
        } else {
            Err(ApiError::SessionEnded)
        }
    }

    pub fn terms_accepted(&self, account: &Account) -> bool {
        account.terms_version.as_deref() == Some(self.current_terms)
    }
}

/// The rules of SPEC §2: the primary holder may do everything for their client, an authorised
/// user what was granted, staff read for the clients of their own team, admins read no dossier.
/// Whoever has no access to a client gets the same answer whether or not the client exists.
fn decide(
    items: ClientAccessItems,
    rules: &SessionRules,
    origin: Origin,
) -> ApiResult<ClientActor> {
    let (Some(account), Some(session)) = (items.account, items.session) else {
        return Err(ApiError::SessionEnded);
    };
    rules.check(&account, &session)?;
    if !rules.terms_accepted(&account) {
        return Err(ApiError::TermsNotAccepted);
    }
    let (relation, permissions) = match (account.role, &items.grant) {
        (Role::Admin, _) => return Err(ApiError::ClientForbidden),
        (Role::Staff, _) => {
            let same_team = items
                .client
                .as_ref()
                .is_some_and(|client| Some(&client.team) == account.team.as_ref());
            if !same_team {
                return Err(ApiError::ClientForbidden);
            }
            (Relation::CareTeam, Permission::CARE_TEAM.to_vec())
        }
        (_, Some(grant)) => (grant.relation, grant.permissions.clone()),
        (_, None) => return Err(ApiError::ClientForbidden),
    };
    // A grant whose client is gone (closed and purged) or closed gives nothing to read.
    let client = items
        .client
        .filter(|client| client.closed_at.is_none())
        .ok_or(ApiError::ClientForbidden)?;
    Ok(ClientActor {
        account,
        session,
        client,
        relation,
        permissions,
        reports_seen: items.reports_seen,
        origin,
    })
}

/// Someone allowed to act for one client, with what they may do there.
#[derive(Debug, Clone)]
pub struct ClientActor {
    pub account: Account,
    pub session: Session,
    /// The client with its dossier head (synced_at, current care plan, report count).
    pub client: Client,
    pub relation: Relation,
    pub permissions: Vec<Permission>,
    /// How many of the client's reports this account has seen.
    pub reports_seen: u64,
    pub origin: Origin,
}

impl ClientActor {
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// An audit entry of this actor's access to the client's `category` of data.
    pub fn audit(&self, action: AuditAction, category: DataCategory) -> AuditEvent {
        let on_behalf = matches!(
            self.relation,
            Relation::Representative | Relation::AuthorisedUser
        );
        AuditEvent::new(
            action,
            Outcome::Success,
            crate::time::now().unix_timestamp(),
            &self.origin,
        )
        .actor(&self.account.id)
        .role(self.account.role)
        .actor_name(&self.account.display_name)
        .session(&self.session.id)
        .concerning(&self.client.id, category, on_behalf)
    }

    /// Reports the account has not seen yet.
    pub fn unread_reports(&self) -> u64 {
        self.client.report_count.saturating_sub(self.reports_seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AccountStatus, Grant, PasswordHash};
    use crate::types::{AccountId, EmailAddress, PhoneNumber, SessionId, Username};

    const NOW: Epoch = 1_800_000_000;

    fn account(role: Role, team: Option<&str>) -> Account {
        Account {
            id: AccountId::generate(),
            username: Username::parse("someone").unwrap(),
            display_name: "Someone".into(),
            role,
            status: AccountStatus::Active,
            phone: PhoneNumber::parse("+31612345678").unwrap(),
            email: EmailAddress::parse("someone@example.org").unwrap(),
            password_hash: PasswordHash("x".into()),
            team: team.map(str::to_owned),
            terms_version: Some("2.0".into()),
            terms_accepted_at: Some(NOW),
            created_at: NOW,
            last_login_at: None,
        }
    }

    fn items(account: Account, grant: Option<Grant>, team: &str) -> ClientAccessItems {
        let session = Session {
            id: SessionId::generate(),
            account_id: account.id.clone(),
            created_at: NOW - 10,
            last_refreshed_at: NOW - 10,
            expires_at: NOW + 3600,
            refresh_hash: String::new(),
            used_refresh_hashes: vec![],
            user_agent: None,
            source_ip: None,
        };
        ClientAccessItems {
            account: Some(account),
            session: Some(session),
            grant,
            client: Some(Client::new(ClientId::parse("C-1").unwrap(), "Cliënt", team)),
            reports_seen: 0,
        }
    }

    fn grant(relation: Relation, permissions: &[Permission]) -> Grant {
        Grant {
            client_id: ClientId::parse("C-1").unwrap(),
            client_name: "Cliënt".into(),
            relation,
            permissions: permissions.to_vec(),
            granted_at: NOW,
        }
    }

    fn decided(items: ClientAccessItems) -> ApiResult<ClientActor> {
        let rules = SessionRules {
            now: NOW,
            idle_timeout: 1800,
            current_terms: "2.0",
        };
        decide(items, &rules, Origin::default())
    }

    #[test]
    fn a_closed_clients_dossier_is_shown_to_nobody() {
        let mut primary = items(
            account(Role::Client, None),
            Some(grant(Relation::ClientSelf, &Permission::ALL)),
            "noord",
        );
        let mut staff = items(account(Role::Staff, Some("noord")), None, "noord");
        for items in [&mut primary, &mut staff] {
            if let Some(client) = &mut items.client {
                client.closed_at = Some(time::OffsetDateTime::UNIX_EPOCH);
            }
            assert!(matches!(
                decided(items.clone()),
                Err(ApiError::ClientForbidden)
            ));
        }
    }

    #[test]
    fn each_role_gets_what_spec_section_2_gives_it() {
        let primary = decided(items(
            account(Role::Client, None),
            Some(grant(Relation::ClientSelf, &Permission::ALL)),
            "noord",
        ))
        .unwrap();
        assert!(primary.may(Permission::SignCarePlan));

        let authorised = decided(items(
            account(Role::AuthorisedUser, None),
            Some(grant(Relation::AuthorisedUser, &[Permission::Agenda])),
            "noord",
        ))
        .unwrap();
        assert!(authorised.may(Permission::Agenda));
        assert!(!authorised.may(Permission::ReadReports));

        let staff = decided(items(account(Role::Staff, Some("noord")), None, "noord")).unwrap();
        assert_eq!(staff.relation, Relation::CareTeam);
        assert!(staff.may(Permission::ReadCarePlan));
        assert!(!staff.may(Permission::WriteReports));

        for refused in [
            items(account(Role::Staff, Some("zuid")), None, "noord"),
            items(account(Role::Admin, None), None, "noord"),
            items(account(Role::Client, None), None, "noord"),
        ] {
            assert!(matches!(decided(refused), Err(ApiError::ClientForbidden)));
        }
    }

    #[test]
    fn an_unknown_client_looks_like_any_other_forbidden_one() {
        let mut unknown = items(account(Role::Staff, Some("noord")), None, "noord");
        unknown.client = None;
        assert!(matches!(decided(unknown), Err(ApiError::ClientForbidden)));
    }

    #[test]
    fn ended_sessions_and_unaccepted_terms_stop_before_any_access() {
        let mut ended = items(
            account(Role::Client, None),
            Some(grant(Relation::ClientSelf, &Permission::ALL)),
            "noord",
        );
        ended.session = None;
        assert!(matches!(decided(ended), Err(ApiError::SessionEnded)));

        let mut old_terms = account(Role::Client, None);
        old_terms.terms_version = Some("1.0".into());
        let pending = items(
            old_terms,
            Some(grant(Relation::ClientSelf, &Permission::ALL)),
            "noord",
        );
        assert!(matches!(decided(pending), Err(ApiError::TermsNotAccepted)));
    }
}
