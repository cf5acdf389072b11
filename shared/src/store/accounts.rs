//! Accounts, the clients they may act for, and the grants between them.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::{
    Epoch, Keyed, Session, Store, StoreError, StoreResult, conditional, key, n, query_all, record,
    s,
};
use crate::types::{AccountId, ClientId, EmailAddress, PhoneNumber, Username};

pub(super) fn account_pk(id: &AccountId) -> String {
    format!("ACCOUNT#{id}")
}
pub(super) const PROFILE: &str = "PROFILE";
fn username_pk(username: &Username) -> String {
    format!("USERNAME#{username}")
}
pub(super) fn client_pk(id: &ClientId) -> String {
    format!("CLIENT#{id}")
}
pub(super) fn team_pk(team: &str) -> String {
    format!("TEAM#{team}")
}
pub(super) const GRANT_PREFIX: &str = "GRANT#";
pub(super) const SESSION_PREFIX: &str = "SESSION#";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Client,
    Representative,
    AuthorisedUser,
    Staff,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Activated and usable.
    Active,
    /// Blocked by the organisation (Art 4.3).
    Blocked,
    /// Locked after a report of misuse (Art 2.7) until an admin unlocks it.
    Locked,
    /// Closed for good (Art 4.1, 4.2).
    Closed,
}

/// How an account relates to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The client holds the primary account for their own dossier.
    ClientSelf,
    /// The legal representative holds the primary account (Art 2.2–2.3).
    Representative,
    /// Invited by the primary holder, with the permissions granted (Art 2.2).
    AuthorisedUser,
    /// A staff member of the client's care team; derived from the team, never stored as a grant.
    CareTeam,
}

impl Relation {
    pub fn is_primary(self) -> bool {
        matches!(self, Relation::ClientSelf | Relation::Representative)
    }
}

/// What an account may do for one client. The primary holder has all of them; an authorised user
/// has what the primary holder granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    ReadCarePlan,
    SignCarePlan,
    ReadReports,
    WriteReports,
    Agenda,
    Messages,
    Bulletin,
    ManageUsers,
    AccessLog,
    Export,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadCarePlan => "read_care_plan",
            Permission::SignCarePlan => "sign_care_plan",
            Permission::ReadReports => "read_reports",
            Permission::WriteReports => "write_reports",
            Permission::Agenda => "agenda",
            Permission::Messages => "messages",
            Permission::Bulletin => "bulletin",
            Permission::ManageUsers => "manage_users",
            Permission::AccessLog => "access_log",
            Permission::Export => "export",
        }
    }

    pub const ALL: [Permission; 10] = [
        Permission::ReadCarePlan,
        Permission::SignCarePlan,
        Permission::ReadReports,
        Permission::WriteReports,
        Permission::Agenda,
        Permission::Messages,
        Permission::Bulletin,
        Permission::ManageUsers,
        Permission::AccessLog,
        Permission::Export,
    ];

    /// Only the primary holder signs, manages users, reads the access log and exports.
    /// What staff may do for their team's clients: read what the portal shows, answer messages and
    /// post on the board (SPEC §2).
    pub const CARE_TEAM: [Permission; 5] = [
        Permission::ReadCarePlan,
        Permission::ReadReports,
        Permission::Agenda,
        Permission::Messages,
        Permission::Bulletin,
    ];

    pub fn grantable_to_authorised_user(self) -> bool {
        !matches!(
            self,
            Permission::SignCarePlan
                | Permission::ManageUsers
                | Permission::AccessLog
                | Permission::Export
        )
    }
}

/// A PHC-format argon2id hash. Not a secret, but no business of any log either.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub status: AccountStatus,
    pub phone: PhoneNumber,
    pub email: EmailAddress,
    pub password_hash: PasswordHash,
    /// The care team a staff member belongs to; staff see that team's clients only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_accepted_at: Option<Epoch>,
    pub created_at: Epoch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<Epoch>,
}

impl Account {
    pub fn can_log_in(&self) -> bool {
        self.status == AccountStatus::Active
    }
}

/// A client as the portal knows them: whose dossier it is, which team cares for them, and the
/// head of the dossier (when it was last synced, the current care plan, how many reports), so
/// that one read of this item tells every dossier route what it needs besides its own data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub id: ClientId,
    pub display_name: String,
    pub team: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_account: Option<AccountId>,
    /// When the dossier last came from the ECD.
    #[serde(
        default,
        with = "crate::time::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub synced_at: Option<time::OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_plan: Option<crate::dossier::CarePlanSummary>,
    /// Reports ever added; each reader's read mark counts against it.
    #[serde(default)]
    pub report_count: u64,
    /// The day the client died, as the ECD has it.
    #[serde(
        default,
        with = "crate::time::iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deceased_on: Option<time::Date>,
    /// The day the client's care ended, as the ECD has it.
    #[serde(
        default,
        with = "crate::time::iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub care_ended_on: Option<time::Date>,
    /// The day the daily sweep closes the client's accounts (Art 4.1).
    #[serde(
        default,
        with = "crate::time::iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub closes_on: Option<time::Date>,
    /// When the client's portal was closed: from then on nobody sees its dossier.
    #[serde(
        default,
        with = "crate::time::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub closed_at: Option<time::OffsetDateTime>,
}

impl Client {
    pub fn new(id: ClientId, display_name: impl Into<String>, team: impl Into<String>) -> Self {
        Self {
            id,
            display_name: display_name.into(),
            team: team.into(),
            primary_account: None,
            synced_at: None,
            care_plan: None,
            report_count: 0,
            deceased_on: None,
            care_ended_on: None,
            closes_on: None,
            closed_at: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: ClientId,
    pub client_name: String,
    pub relation: Relation,
    pub permissions: Vec<Permission>,
    pub granted_at: Epoch,
}

/// Everything the auth check needs about an account, read in one request: the account, its
/// grants and its sessions (a handful at most, each ending with its time-out).
#[derive(Debug, Clone)]
pub struct AccountContext {
    pub account: Account,
    pub grants: Vec<Grant>,
    pub sessions: Vec<Session>,
}

impl Store {
    /// Adds a client; fails with `ConditionFailed` if the id is taken.
    pub async fn create_client(&self, client: &Client) -> StoreResult<()> {
        let item = Keyed::new(client_pk(&client.id), PROFILE, client)
            .gsi1(team_pk(&client.team), format!("CLIENT#{}", client.id))
            .into_item()?;
        let result = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional(result).map(drop)
    }

    /// Creates an account with its grants in one transaction. The username must be free, and a
    /// primary grant claims the client's single primary slot (Art 2.2): if either is taken,
    /// nothing is written and the result is `ConditionFailed`.
    pub async fn create_account(&self, account: &Account, grants: &[Grant]) -> StoreResult<()> {
        let mut writes = vec![
            put(
                self.table(),
                Keyed::new(
                    username_pk(&account.username),
                    "CLAIM",
                    ClaimRecord {
                        account_id: account.id.clone(),
                    },
                )
                .into_item()?,
            ),
            put(self.table(), profile_item(account)?),
        ];
        for grant in grants {
            writes.push(put(self.table(), grant_item(&account.id, grant)?));
            // Every grant needs the client to exist; a primary grant also takes its single slot.
            let mut update = Update::builder()
                .table_name(self.table())
                .set_key(Some(key(client_pk(&grant.client_id), PROFILE)));
            update = if grant.relation.is_primary() {
                update
                    .condition_expression(
                        "attribute_exists(pk) AND attribute_not_exists(primary_account)",
                    )
                    .update_expression("SET primary_account = :account")
                    .expression_attribute_values(":account", s(account.id.as_str()))
            } else {
                update
                    .condition_expression("attribute_exists(pk)")
                    .update_expression("SET grants_changed_at = :at")
                    .expression_attribute_values(":at", n(grant.granted_at))
            };
            writes.push(
                TransactWriteItem::builder()
                    .update(update.build().map_err(build_error)?)
                    .build(),
            );
        }
        self.transact(writes).await
    }

    /// The account with this username, through the username index.
    pub async fn find_account_by_username(
        &self,
        username: &Username,
    ) -> StoreResult<Option<Account>> {
        let output = self
            .client
            .query()
            .table_name(self.table())
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND gsi1sk = :sk")
            .expression_attribute_values(":pk", s(username_pk(username)))
            .expression_attribute_values(":sk", s("ACCOUNT"))
            .limit(1)
            .send()
            .await?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(record)
            .transpose()
    }

    pub async fn get_account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        self.get_record(key(account_pk(id), PROFILE)).await
    }

    /// The account, its grants and its sessions, in one strongly consistent query of the
    /// account's partition.
    pub async fn account_context(&self, id: &AccountId) -> StoreResult<Option<AccountContext>> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(account_pk(id)))
            .consistent_read(true);
        let mut account = None;
        let mut grants = Vec::new();
        let mut sessions = Vec::new();
        for item in query_all(query).await? {
            let sk = item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if sk == PROFILE {
                account = Some(record(item)?);
            } else if sk.starts_with(GRANT_PREFIX) {
                grants.push(record(item)?);
            } else if sk.starts_with(SESSION_PREFIX) {
                sessions.push(record(item)?);
            }
        }
        Ok(account.map(|account| AccountContext {
            account,
            grants,
            sessions,
        }))
    }

    /// Blocks, locks, closes or reactivates an account. Its sessions stop working on their next
    /// request, since every request checks the status.
    pub async fn set_account_status(
        &self,
        id: &AccountId,
        status: AccountStatus,
    ) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(account_pk(id), PROFILE)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", serde_dynamo::to_attribute_value(status)?)
            .send()
            .await?;
        Ok(())
    }

    /// Records that the account accepted terms `version`, with its audit entry, in one
    /// transaction.
    pub async fn accept_terms(
        &self,
        id: &AccountId,
        version: &str,
        at: Epoch,
        audit: &crate::audit::AuditEvent,
    ) -> StoreResult<()> {
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(account_pk(id), PROFILE)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET terms_version = :version, terms_accepted_at = :at")
            .expression_attribute_values(":version", s(version))
            .expression_attribute_values(":at", n(at))
            .build()
            .map_err(build_error)?;
        self.transact(vec![
            TransactWriteItem::builder().update(update).build(),
            super::audit::audit_write(self.table(), audit)?,
        ])
        .await
    }

    /// The clients of a care team, for staff.
    pub async fn team_clients(&self, team: &str) -> StoreResult<Vec<Client>> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :client)")
            .expression_attribute_values(":pk", s(team_pk(team)))
            .expression_attribute_values(":client", s("CLIENT#"));
        query_all(query).await?.into_iter().map(record).collect()
    }
}

fn profile_item(account: &Account) -> StoreResult<super::Item> {
    Keyed::new(account_pk(&account.id), PROFILE, account)
        .gsi1(username_pk(&account.username), "ACCOUNT")
        .into_item()
}

fn grant_item(account: &AccountId, grant: &Grant) -> StoreResult<super::Item> {
    Keyed::new(
        account_pk(account),
        format!("{GRANT_PREFIX}{}", grant.client_id),
        grant,
    )
    .gsi1(
        client_pk(&grant.client_id),
        format!("{GRANT_PREFIX}{account}"),
    )
    .into_item()
}

#[cfg(feature = "test-support")]
impl Store {
    /// Writes accounts and their grants in batches, without the checks of `create_account`:
    /// for filling a table with many accounts in a bench or test.
    pub async fn seed_accounts(&self, accounts: &[(Account, Vec<Grant>)]) -> StoreResult<()> {
        let mut requests = Vec::new();
        for (account, grants) in accounts {
            let mut items = vec![profile_item(account)?];
            for grant in grants {
                items.push(grant_item(&account.id, grant)?);
            }
            for item in items {
                let put = aws_sdk_dynamodb::types::PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(build_error)?;
                requests.push(
                    aws_sdk_dynamodb::types::WriteRequest::builder()
                        .put_request(put)
                        .build(),
                );
            }
        }
        self.batch_write(requests).await
    }
}

#[derive(Serialize, Deserialize)]
struct ClaimRecord {
    account_id: AccountId,
}

pub(super) fn put(table: &str, item: super::Item) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .expect("table name and item are set"),
        )
        .build()
}

pub(super) fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Request(err.to_string())
}
