//! The closure schedule (Art 4.1). `CLOSURE#DUE/<day>#<client>` lists each client whose portal
//! closes on that day, `PURGE#DUE/<day>#<client>` each closed client whose copy of the dossier is
//! purged then. The daily sweep queries what is due up to today and nothing else, so its cost
//! follows what is due, not how many accounts there are.

use aws_sdk_dynamodb::types::{Delete, DeleteRequest, TransactWriteItem, Update, WriteRequest};
use serde::{Deserialize, Serialize};
use time::Date;

use super::accounts::{GRANT_PREFIX, PROFILE, account_pk, build_error, client_pk};
use super::audit::audit_write;
use super::dossier::READ_MARK_PREFIX;
use super::sessions::session_sk;
use super::sync::iso;
use super::{
    AccountContext, AccountStatus, Client, Item, Keyed, Store, StoreResult, key, query_all, record,
    s,
};
use crate::audit::AuditEvent;
use crate::types::{AccountId, ClientId};

const CLOSURE_PK: &str = "CLOSURE#DUE";
const PURGE_PK: &str = "PURGE#DUE";

/// A client due for closure or purging on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    pub client: ClientId,
    #[serde(with = "crate::time::iso_date")]
    pub on: Date,
}

fn due_sk(day: Date, client: &ClientId) -> String {
    format!("{}#{client}", iso(day))
}

pub(super) fn closure_due_key(day: Date, client: &ClientId) -> Item {
    key(CLOSURE_PK.to_owned(), due_sk(day, client))
}

pub(super) fn closure_due_item(day: Date, client: &ClientId) -> StoreResult<Item> {
    due_item(CLOSURE_PK, day, client)
}

fn due_item(pk: &str, day: Date, client: &ClientId) -> StoreResult<Item> {
    let due = Due {
        client: client.clone(),
        on: day,
    };
    Keyed::new(pk.to_owned(), due_sk(day, client), due).into_item()
}

/// A Put without a condition, as a write of a transaction (a schedule entry may be rewritten).
pub(super) fn put_write(table: &str, item: Item) -> StoreResult<TransactWriteItem> {
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub(super) fn delete_write(table: &str, key: Item) -> StoreResult<TransactWriteItem> {
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

impl Store {
    /// Clients whose portal closes on or before `today`.
    pub async fn closures_due(&self, today: Date) -> StoreResult<Vec<Due>> {
        self.due(CLOSURE_PK, today).await
    }

    /// Closed clients whose dossier copy is purged on or before `today`.
    pub async fn purges_due(&self, today: Date) -> StoreResult<Vec<Due>> {
        self.due(PURGE_PK, today).await
    }

    async fn due(&self, pk: &str, today: Date) -> StoreResult<Vec<Due>> {
        // Every sort key of a later day starts with a later date, so "before tomorrow" is the
        // range of all days up to today.
        let tomorrow = today.next_day().unwrap_or(today);
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND sk < :tomorrow")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":tomorrow", s(iso(tomorrow)))
            .consistent_read(true);
        query_all(query).await?.into_iter().map(record).collect()
    }

    /// The accounts holding a grant for the client, by the grants' index.
    pub async fn grant_holders(&self, client: &ClientId) -> StoreResult<Vec<AccountId>> {
        self.indexed_under_client(client, GRANT_PREFIX)
            .await?
            .iter()
            .filter_map(|item| super::dossier::pk_of(item).strip_prefix("ACCOUNT#"))
            .map(|id| {
                AccountId::parse(id).map_err(|err| super::StoreError::Request(err.to_string()))
            })
            .collect()
    }

    /// The keys of the items of other partitions indexed under the client whose index sort key
    /// starts with `prefix`.
    async fn indexed_under_client(
        &self,
        client: &ClientId,
        prefix: &str,
    ) -> StoreResult<Vec<Item>> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :prefix)")
            .expression_attribute_values(":pk", s(client_pk(client)))
            .expression_attribute_values(":prefix", s(prefix))
            .projection_expression("pk, sk");
        query_all(query).await
    }

    /// Takes the account's grant for `client` away; when it was the account's last grant the
    /// account is closed and its sessions end. Returns whether the account was closed.
    pub async fn close_account_for_client(
        &self,
        context: &AccountContext,
        client: &ClientId,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let account = &context.account.id;
        let keeps_other_grants = context
            .grants
            .iter()
            .any(|grant| grant.client_id != *client);
        let mut writes = vec![
            delete_write(
                self.table(),
                key(account_pk(account), format!("{GRANT_PREFIX}{client}")),
            )?,
            audit_write(self.table(), audit)?,
        ];
        let closes = !keeps_other_grants && context.account.status != AccountStatus::Closed;
        if closes {
            let update = Update::builder()
                .table_name(self.table())
                .set_key(Some(key(account_pk(account), PROFILE)))
                .condition_expression("attribute_exists(pk)")
                .update_expression("SET #status = :closed")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(
                    ":closed",
                    serde_dynamo::to_attribute_value(AccountStatus::Closed)?,
                )
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().update(update).build());
        }
        self.transact(writes).await?;
        if !keeps_other_grants {
            // The closed status already stops every session; deleting them ends them in the
            // holder's list of sessions too.
            let requests = context
                .sessions
                .iter()
                .map(|session| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key(account_pk(account), session_sk(&session.id))))
                        .build()
                        .map_err(build_error)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            self.batch_write(requests).await?;
        }
        Ok(closes)
    }

    /// Closes the client's portal: nobody sees the dossier any more, staff no longer find the
    /// client in their team, and its purge is scheduled for `purge_on`. One transaction with
    /// the audit entry and the removal from the closure schedule.
    pub async fn close_client(
        &self,
        client: &Client,
        due: &Due,
        purge_on: Date,
        at: time::OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let closed_at = at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|err| super::StoreError::Request(err.to_string()))?;
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(client_pk(&client.id), PROFILE)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET closed_at = :at REMOVE gsi1pk, gsi1sk, primary_account")
            .expression_attribute_values(":at", s(closed_at))
            .build()
            .map_err(build_error)?;
        self.transact(vec![
            TransactWriteItem::builder().update(update).build(),
            delete_write(self.table(), closure_due_key(due.on, &due.client))?,
            put_write(self.table(), due_item(PURGE_PK, purge_on, &client.id)?)?,
            audit_write(self.table(), audit)?,
        ])
        .await
    }

    /// Drops a closure that has nothing left to close (the client is gone).
    pub async fn drop_closure(&self, due: &Due) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(closure_due_key(due.on, &due.client)))
            .send()
            .await?;
        Ok(())
    }

    /// Deletes the portal's copy of the client's dossier, head included, and every reader's read
    /// mark; the audit log stays.
    /// The purge's own entry goes last, so a purge that stopped halfway runs again.
    pub async fn purge_client(&self, due: &Due, audit: &AuditEvent) -> StoreResult<usize> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(client_pk(&due.client)))
            .projection_expression("pk, sk")
            .consistent_read(true);
        let mut keys = query_all(query).await?;
        keys.extend(
            self.indexed_under_client(&due.client, READ_MARK_PREFIX)
                .await?,
        );
        let requests = keys
            .into_iter()
            .map(|item| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(item))
                    .build()
                    .map_err(build_error)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let purged = requests.len();
        self.batch_write(requests).await?;
        self.transact(vec![
            delete_write(
                self.table(),
                key(PURGE_PK.to_owned(), due_sk(due.on, &due.client)),
            )?,
            audit_write(self.table(), audit)?,
        ])
        .await?;
        Ok(purged)
    }
}
