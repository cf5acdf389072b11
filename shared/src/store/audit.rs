//! Audit entries are stored under the client they concern, else under the acting account, else
//! under the username a failed login named; each newest-last by its time-ordered id.

use super::{Item, Keyed, Store, StoreResult, query_all, record, s};
use crate::audit::AuditEvent;
use crate::types::AccountId;

fn subject_pk(event: &AuditEvent) -> String {
    match (&event.client, &event.actor, &event.attempted_username) {
        (Some(client), _, _) => format!("AUDIT#CLIENT#{client}"),
        (None, Some(account), _) => account_audit_pk(account),
        (None, None, Some(username)) => format!("AUDIT#USERNAME#{username}"),
        (None, None, None) => "AUDIT#ORGANISATION".to_owned(),
    }
}

fn account_audit_pk(account: &AccountId) -> String {
    format!("AUDIT#ACCOUNT#{account}")
}

pub(super) fn audit_item(event: &AuditEvent) -> StoreResult<Item> {
    let mut keyed = Keyed::new(subject_pk(event), format!("EVENT#{}", event.id), event);
    // Entries about a client stay findable from the account that acted.
    if let (Some(_), Some(actor)) = (&event.client, &event.actor) {
        keyed = keyed.gsi1(account_audit_pk(actor), format!("EVENT#{}", event.id));
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
}
