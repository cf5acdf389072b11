//! Creating accounts: the one path by which an account with its password and grants comes to be,
//! used by the demo seed and the tests today and by account administration later.

use secrecy::SecretString;

use crate::auth::password::{NewPassword, PasswordRejected};
use crate::store::{
    Account, AccountStatus, Client, Grant, Permission, Relation, Role, Store, StoreError,
};
use crate::types::{AccountId, EmailAddress, PhoneNumber, Username};

pub struct NewAccount {
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub phone: PhoneNumber,
    pub email: EmailAddress,
    pub password: SecretString,
    pub team: Option<String>,
    /// The terms version accepted at activation, if any.
    pub terms_version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Password(#[from] PasswordRejected),
    #[error("the username is taken, or the client already has a primary account")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
}

/// A grant of access to `client`: the primary holder gets every permission, an authorised user
/// what was granted of the permissions that may be granted.
pub fn grant(client: &Client, relation: Relation, requested: &[Permission], at: i64) -> Grant {
    let permissions = if relation.is_primary() {
        Permission::ALL.to_vec()
    } else {
        requested
            .iter()
            .copied()
            .filter(|permission| permission.grantable_to_authorised_user())
            .collect()
    };
    Grant {
        client_id: client.id.clone(),
        client_name: client.display_name.clone(),
        relation,
        permissions,
        granted_at: at,
    }
}

pub async fn register(
    store: &Store,
    new: NewAccount,
    grants: &[Grant],
) -> Result<Account, RegisterError> {
    let hash = NewPassword::parse(new.password)?.hash().await;
    let now = crate::time::now().unix_timestamp();
    let account = Account {
        id: AccountId::generate(),
        username: new.username,
        display_name: new.display_name,
        role: new.role,
        status: AccountStatus::Active,
        phone: new.phone,
        email: new.email,
        password_hash: hash,
        team: new.team,
        terms_accepted_at: new.terms_version.as_ref().map(|_| now),
        terms_version: new.terms_version,
        created_at: now,
        last_login_at: None,
    };
    match store.create_account(&account, grants).await {
        Ok(()) => Ok(account),
        Err(StoreError::ConditionFailed) => Err(RegisterError::Conflict),
        Err(err) => Err(RegisterError::Store(err)),
    }
}
