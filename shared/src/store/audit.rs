//! Audit entries are stored under the client they concern, else under the acting account, else
//! under the username a failed login named; each newest-last by its time-ordered id.

use super::dossier::Page;
use super::{Item, Keyed, Store, StoreResult, key, query_all, record, s};
use crate::audit::AuditEvent;
use crate::types::{AccountId, ClientId};
use time::OffsetDateTime;

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

    /// A client's access log for `[from, to)`, newest first, up to `limit` entries after the
    /// entry with sort key `after`.
    pub async fn client_audit_page(
        &self,
        client: &ClientId,
        (from, to): (OffsetDateTime, OffsetDateTime),
        after: Option<&str>,
        limit: u16,
    ) -> StoreResult<Page<AuditEvent>> {
        let (lowest, highest) = event_range(from, to);
        let output = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(client_audit_pk(client)))
            .expression_attribute_values(":from", s(lowest))
            .expression_attribute_values(":to", s(highest))
            .scan_index_forward(false)
            .set_exclusive_start_key(after.map(|sk| key(client_audit_pk(client), sk)))
            .limit(i32::from(limit))
            .consistent_read(true)
            .send()
            .await?;
        super::dossier::page(output)
    }

    /// A client's whole access log, newest first.
    pub async fn client_audit(&self, client: &ClientId) -> StoreResult<Vec<AuditEvent>> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :events)")
            .expression_attribute_values(":pk", s(client_audit_pk(client)))
            .expression_attribute_values(":events", s(EVENT_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true);
        query_all(query).await?.into_iter().map(record).collect()
    }
}

/// The event sort keys of `[from, to)`: a ULID starts with its millisecond, so the lowest id of
/// `from`'s millisecond up to the highest of the millisecond before `to` spans the period.
fn event_range(from: OffsetDateTime, to: OffsetDateTime) -> (String, String) {
    let millis = |at: OffsetDateTime| (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    (
        format!("{EVENT_PREFIX}{}", ulid::Ulid::from_parts(millis(from), 0)),
        format!(
            "{EVENT_PREFIX}{}",
            ulid::Ulid::from_parts(millis(to).saturating_sub(1), u128::MAX)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_event_range_holds_the_ids_of_its_period_and_no_others() {
        let (from, to) = (
            datetime!(2026-12-01 0:00 UTC),
            datetime!(2026-12-02 0:00 UTC),
        );
        let (lowest, highest) = event_range(from, to);
        let id_at = |at: OffsetDateTime, random: u128| {
            let millis = (at.unix_timestamp_nanos() / 1_000_000) as u64;
            format!("{EVENT_PREFIX}{}", ulid::Ulid::from_parts(millis, random))
        };
        let inside = [
            id_at(from, 0),
            id_at(to - time::Duration::milliseconds(1), u128::MAX),
        ];
        let outside = [
            id_at(from - time::Duration::milliseconds(1), u128::MAX),
            id_at(to, 0),
        ];
        for id in inside {
            assert!(lowest <= id && id <= highest, "{id} left out");
        }
        for id in outside {
            assert!(id < lowest || highest < id, "{id} let in");
        }
    }
}
