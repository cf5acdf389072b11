//! `GET /me`: the account, its role, and every client it may act for with its permissions.

use axum::Json;
use axum::extract::{FromRef, State};
use serde::Serialize;
use shared::auth::{Actor, Authenticator};
use shared::aws::SdkConfig;
use shared::config::ConfigError;
use shared::http::{FunctionRouter, Routes};
use shared::problem::ApiResult;
use shared::store::{AccountStatus, Permission, Relation, Role, Store};
use shared::types::{AccountId, ClientId, EmailAddress, Username};

#[derive(Clone, FromRef)]
pub struct MeState {
    pub store: Store,
    pub auth: Authenticator,
}

#[derive(Serialize)]
struct AccountView {
    id: AccountId,
    username: Username,
    display_name: String,
    role: Role,
    status: AccountStatus,
    email: EmailAddress,
    phone_hint: String,
    terms_version: Option<String>,
}

#[derive(Serialize)]
struct ClientAccess {
    client_id: ClientId,
    display_name: String,
    relation: Relation,
    permissions: Vec<Permission>,
}

#[derive(Serialize)]
struct Me {
    account: AccountView,
    clients: Vec<ClientAccess>,
}

async fn me(State(store): State<Store>, actor: Actor) -> ApiResult<Json<Me>> {
    let mut clients: Vec<ClientAccess> = actor
        .grants
        .iter()
        .map(|grant| ClientAccess {
            client_id: grant.client_id.clone(),
            display_name: grant.client_name.clone(),
            relation: grant.relation,
            permissions: grant.permissions.clone(),
        })
        .collect();
    // Staff act for the clients of their own team only; admins for none.
    if let (Role::Staff, Some(team)) = (actor.account.role, &actor.account.team) {
        clients.extend(
            store
                .team_clients(team)
                .await?
                .into_iter()
                .map(|client| ClientAccess {
                    client_id: client.id,
                    display_name: client.display_name,
                    relation: Relation::CareTeam,
                    permissions: Permission::CARE_TEAM.to_vec(),
                }),
        );
    }
    let account = actor.account;
    Ok(Json(Me {
        account: AccountView {
            phone_hint: account.phone.masked(),
            id: account.id,
            username: account.username,
            display_name: account.display_name,
            role: account.role,
            status: account.status,
            email: account.email,
            terms_version: account.terms_version,
        },
        clients,
    }))
}

pub fn router(state: MeState) -> FunctionRouter {
    Routes::default().get("/me", me).with_state(state)
}

pub fn from_env(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    let store = Store::from_env(sdk)?;
    Ok(router(MeState {
        auth: Authenticator::from_env(store.clone())?,
        store,
    }))
}
