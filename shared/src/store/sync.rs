//! What the ECD sync writes. Each ECD resource the portal copies has a reference item
//! `CLIENT#<client>/ECDREF#<Type>/<id>` naming the item it became, so that the sync knows
//! whether a change is new (a report to count) or moves an item (an appointment whose start
//! changed sorts elsewhere) with one batch read per page, however large the table is.

use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, TransactWriteItem, Update, WriteRequest};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::Date;

use super::accounts::{PROFILE, build_error, client_pk, put};
use super::closure::{closure_due_item, closure_due_key, delete_write, put_write};
use super::dossier::{appointment_sk, pk_of, report_sk, sk_of};
use super::{Client, Item, Keyed, Store, StoreResult, key, record, s};
use crate::dossier::{Appointment, Report};
use crate::types::ClientId;

const ECD_REF_PREFIX: &str = "ECDREF#";
/// DynamoDB takes at most 100 writes per transaction: a report and its reference are two.
const REPORTS_PER_TRANSACTION: usize = 49;

fn ecd_ref_sk(ecd_ref: &str) -> String {
    format!("{ECD_REF_PREFIX}{ecd_ref}")
}

#[derive(Serialize, Deserialize)]
struct EcdRef {
    /// The sort key of the item the ECD resource became.
    item: String,
}

/// What the portal holds of the clients and ECD resources one page of changes concerns.
#[derive(Debug, Default)]
pub struct SyncLookup {
    pub clients: HashMap<ClientId, Client>,
    refs: HashMap<(String, String), String>,
}

impl SyncLookup {
    /// The sort key of the item `ecd_ref` (e.g. `Observation/obs-1`) became, if it is stored.
    pub fn stored(&self, client: &ClientId, ecd_ref: &str) -> Option<&str> {
        self.refs
            .get(&(client_pk(client), ecd_ref_sk(ecd_ref)))
            .map(String::as_str)
    }
}

/// Writes of one page that need no condition, sent 25 per request.
#[derive(Default)]
pub struct SyncBatch {
    requests: Vec<WriteRequest>,
}

impl SyncBatch {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    fn put(&mut self, item: Item) -> StoreResult<()> {
        let put = PutRequest::builder()
            .set_item(Some(item))
            .build()
            .map_err(build_error)?;
        self.requests
            .push(WriteRequest::builder().put_request(put).build());
        Ok(())
    }

    fn delete(&mut self, pk: String, sk: String) -> StoreResult<()> {
        let delete = DeleteRequest::builder()
            .set_key(Some(key(pk, sk)))
            .build()
            .map_err(build_error)?;
        self.requests
            .push(WriteRequest::builder().delete_request(delete).build());
        Ok(())
    }

    /// Writes `item` under `sk` for `ecd_ref`, removing what it was stored as before if that
    /// sorts elsewhere now.
    fn put_tracked<T: Serialize>(
        &mut self,
        client: &ClientId,
        ecd_ref: &str,
        sk: String,
        record: &T,
        stored: Option<&str>,
    ) -> StoreResult<()> {
        if let Some(old) = stored.filter(|old| *old != sk) {
            self.delete(client_pk(client), old.to_owned())?;
        }
        self.put(Keyed::new(client_pk(client), sk.clone(), record).into_item()?)?;
        self.put(
            Keyed::new(client_pk(client), ecd_ref_sk(ecd_ref), EcdRef { item: sk }).into_item()?,
        )
    }

    /// A report the portal already holds, as the ECD changed it.
    pub fn update_report(
        &mut self,
        client: &ClientId,
        ecd_ref: &str,
        report: &Report,
        stored: &str,
    ) -> StoreResult<()> {
        self.put_tracked(client, ecd_ref, report_sk(&report.id), report, Some(stored))
    }

    pub fn put_appointment(
        &mut self,
        client: &ClientId,
        ecd_ref: &str,
        appointment: &Appointment,
        stored: Option<&str>,
    ) -> StoreResult<()> {
        let sk = appointment_sk(appointment.starts_at, &appointment.id);
        self.put_tracked(client, ecd_ref, sk, appointment, stored)
    }

    /// Removes what `ecd_ref` became (a cancelled appointment, a report entered in error) and
    /// its reference.
    pub fn remove(&mut self, client: &ClientId, ecd_ref: &str, stored: &str) -> StoreResult<()> {
        self.delete(client_pk(client), stored.to_owned())?;
        self.delete(client_pk(client), ecd_ref_sk(ecd_ref))
    }
}

/// What the ECD says about a client that decides when their portal closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFacts {
    pub display_name: String,
    pub deceased_on: Option<Date>,
    pub care_ended_on: Option<Date>,
    pub closes_on: Option<Date>,
}

impl Store {
    /// The clients and the references of one page, in one batch read per 100 keys.
    pub async fn sync_lookup(
        &self,
        clients: &[ClientId],
        refs: &[(ClientId, String)],
    ) -> StoreResult<SyncLookup> {
        let mut keys: Vec<Item> = clients
            .iter()
            .map(|client| key(client_pk(client), PROFILE))
            .collect();
        keys.extend(
            refs.iter()
                .map(|(client, ecd_ref)| key(client_pk(client), ecd_ref_sk(ecd_ref))),
        );
        let mut lookup = SyncLookup::default();
        for item in self.batch_get(keys).await? {
            let (pk, sk) = (pk_of(&item).to_owned(), sk_of(&item).to_owned());
            if sk == PROFILE {
                let client: Client = record(item)?;
                lookup.clients.insert(client.id.clone(), client);
            } else {
                let stored: EcdRef = record(item)?;
                lookup.refs.insert((pk, sk), stored.item);
            }
        }
        Ok(lookup)
    }

    pub async fn write_sync_batch(&self, batch: SyncBatch) -> StoreResult<()> {
        self.batch_write(batch.requests).await
    }

    /// Adds reports new to the portal with their references and counts them on the client, in
    /// transactions of 49, so that a report is counted exactly when it is stored.
    pub async fn add_synced_reports(
        &self,
        client: &ClientId,
        reports: &[(String, Report)],
    ) -> StoreResult<()> {
        for chunk in reports.chunks(REPORTS_PER_TRANSACTION) {
            let mut writes = Vec::with_capacity(chunk.len() * 2 + 1);
            for (ecd_ref, report) in chunk {
                let sk = report_sk(&report.id);
                writes.push(put(
                    self.table(),
                    Keyed::new(client_pk(client), sk.clone(), report).into_item()?,
                ));
                writes.push(put(
                    self.table(),
                    Keyed::new(client_pk(client), ecd_ref_sk(ecd_ref), EcdRef { item: sk })
                        .into_item()?,
                ));
            }
            writes.push(self.count_reports(client, chunk.len())?);
            self.transact(writes).await?;
        }
        Ok(())
    }

    /// Records the client's name, death and end of care, and moves their closure date in the
    /// sweep's schedule, in one transaction.
    pub async fn record_client_facts(
        &self,
        client: &Client,
        facts: &ClientFacts,
    ) -> StoreResult<()> {
        let mut set = vec!["display_name = :name".to_owned()];
        let mut remove = Vec::new();
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(client_pk(&client.id), PROFILE)))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(closed_at)")
            .expression_attribute_values(":name", s(&facts.display_name));
        for (field, value) in [
            ("deceased_on", facts.deceased_on),
            ("care_ended_on", facts.care_ended_on),
            ("closes_on", facts.closes_on),
        ] {
            match value {
                Some(day) => {
                    set.push(format!("{field} = :{field}"));
                    update = update.expression_attribute_values(format!(":{field}"), s(iso(day)));
                }
                None => remove.push(field),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let update = update
            .update_expression(expression)
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        if client.closes_on != facts.closes_on {
            if let Some(old) = client.closes_on {
                writes.push(delete_write(
                    self.table(),
                    closure_due_key(old, &client.id),
                )?);
            }
            if let Some(new) = facts.closes_on {
                writes.push(put_write(self.table(), closure_due_item(new, &client.id)?)?);
            }
        }
        self.transact(writes).await
    }
}

pub(super) fn iso(day: Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    day.format(&format).expect("a date always formats")
}
