//! Audit entries are stored under the client they concern, else under the acting account, else
//! under the username a failed login named; each newest-last by its time-ordered id.

use super::dossier::Page;
use super::{Item, Keyed, Store, StoreResult, key, query_all, record, s};
use crate::audit::AuditEvent;
use crate::types::{AccountId, ClientId};

pub const EVENT_PREFIX: &str = "EVENT#";

fn client_audit_pk(client: &ClientId) -> String {
    format!("AUDIT#CLIENT#{client}")
}

fn subject_pk(event: &AuditEvent) -> String {
    match (&event.client, &event.actor, &event.attempted_username) {
        (Some(client), _, _) => client_audit_pk(client),
        (None, Some(account), _) => account_audit_pk(account),
        (None, None, Some(username)) => format!("AUDIT#USERNAME#{username}"),
        (None, None, None) => "AUDIT#ORGANISATION".to_owned(),
    }
}

fn account_audit_pk(account: &AccountId) -> String {
    format!("AUDIT#ACCOUNT#{account}")
}

pub(super) fn audit_item(event: &AuditEvent) -> StoreResult<Item> {
    let mut keyed = Keyed::new(
        subject_pk(event),
        format!("{EVENT_PREFIX}{}", event.id),
        event,
    );
    // Entries about a client stay findable from the account that acted.
    if let (Some(_), Some(actor)) = (&event.client, &event.actor) {
        keyed = keyed.gsi1(
            account_audit_pk(actor),
            format!("{EVENT_PREFIX}{}", event.id),
        );
    }
    keyed.into_item()
}

/// The entry as a write of a transaction, so that a change and its record land together.
pub(super) fn audit_write(
    table: &str,
    event: &AuditEvent,
) -> StoreResult<aws_sdk_dynamodb::types::TransactWriteItem> {
    Ok(super::accounts::put(table, audit_item(event)?))
}

impl Store {
    /// Appends an entry; an entry is never overwritten.
    pub async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(self.table())
            .set_item(Some(audit_item(event)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await?;
        Ok(())
    }

    /// The entries an account's own actions left outside any client's log, oldest first.
    pub async fn account_audit(&self, account: &AccountId) -> StoreResult<Vec<AuditEvent>> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(account_audit_pk(account)))
            .consistent_read(true);
        query_all(query).await?.into_iter().map(record).collect()
    }

    /// A client's access log between two event sort keys (inclusive), newest first, up to
    /// `limit` entries after the entry with sort key `after`.
    pub async fn client_audit_page(
        &self,
        client: &ClientId,
        range: (&str, &str),
        after: Option<&str>,
        limit: u16,
    ) -> StoreResult<Page<AuditEvent>> {
        let output = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(client_audit_pk(client)))
            .expression_attribute_values(":from", s(range.0))
            .expression_attribute_values(":to", s(range.1))
            .scan_index_forward(false)
            .set_exclusive_start_key(after.map(|sk| key(client_audit_pk(client), sk)))
            .limit(i32::from(limit))
            .consistent_read(true)
            .send()
            .await?;
        super::dossier::page(output)
    }
}
