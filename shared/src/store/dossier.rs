//! The dossier's items: everything about one client lives in the partition `CLIENT#<client>`,
//! sorted by kind and then by time, so each dossier route reads one key range. Writes the ECD
//! must hear about put an outbox entry in the same transaction.

use aws_sdk_dynamodb::types::{
    AttributeValue, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::accounts::{GRANT_PREFIX, PROFILE, account_pk, build_error, client_pk, put};
use super::audit::audit_write;
use super::sessions::session_sk;
use super::{
    Account, Client, Epoch, Grant, Item, Keyed, Session, Store, StoreError, StoreResult, key, n,
    query_all, record, s,
};
use crate::audit::AuditEvent;
use crate::dossier::{
    Appointment, CarePlanSummary, CarePlanVersion, OutboxEntry, Report, SignatureRefusal,
};
use crate::types::{AccountId, ClientId, IdempotencyKey, ReportId, SessionId};

const CARE_PLAN_PREFIX: &str = "CAREPLAN#";
pub const REPORT_PREFIX: &str = "REPORT#";
const APPOINTMENT_PREFIX: &str = "APPT#";
const OUTBOX_PK: &str = "OUTBOX#PENDING";
/// DynamoDB takes at most 100 writes per transaction.
const TRANSACTION_LIMIT: usize = 100;
/// How long a write's idempotency key is remembered.
pub const IDEMPOTENCY_SECONDS: Epoch = 24 * 3600;

fn care_plan_sk(version: u32) -> String {
    format!("{CARE_PLAN_PREFIX}{version:06}")
}

pub fn report_sk(id: &ReportId) -> String {
    format!("{REPORT_PREFIX}{id}")
}

/// Appointments sort by start: the epoch second, zero-padded so text order is time order.
pub(super) fn appointment_sk(starts_at: OffsetDateTime, id: &str) -> String {
    format!(
        "{APPOINTMENT_PREFIX}{:011}#{id}",
        starts_at.unix_timestamp()
    )
}

pub(super) const READ_MARK_PREFIX: &str = "READMARK#";

fn read_mark_pk(account: &AccountId) -> String {
    format!("{READ_MARK_PREFIX}{account}")
}

fn read_mark_key(account: &AccountId, client: &ClientId) -> Item {
    key(read_mark_pk(account), format!("CLIENT#{client}"))
}

const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

fn idempotency_pk(account: &AccountId, idempotency: &IdempotencyKey) -> String {
    format!("IDEMPOTENCY#{account}#{idempotency}")
}

pub(super) fn sk_of(item: &Item) -> &str {
    item.get("sk")
        .and_then(|v| v.as_s().ok())
        .map_or("", |sk| sk)
}

pub(super) fn pk_of(item: &Item) -> &str {
    item.get("pk")
        .and_then(|v| v.as_s().ok())
        .map_or("", |pk| pk)
}

/// What one request needs to decide whether an account may act for a client, read together:
/// the account, the session, the account's grant for the client (if any), the client with its
/// dossier head, and how many of its reports the account has seen.
#[derive(Debug, Clone, Default)]
pub struct ClientAccessItems {
    pub account: Option<Account>,
    pub session: Option<Session>,
    pub grant: Option<Grant>,
    pub client: Option<Client>,
    pub reports_seen: u64,
}

#[derive(Serialize, Deserialize)]
struct ReadMark {
    reports_seen: u64,
}

/// A page of items, newest first, and the sort key to continue after when there are more.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub last_key: Option<String>,
}

/// Everything of a client's dossier the portal holds, for the export.
#[derive(Debug, Clone, Default)]
pub struct DossierItems {
    pub care_plans: Vec<CarePlanVersion>,
    pub reports: Vec<Report>,
    pub appointments: Vec<Appointment>,
}

/// The remembered outcome of a write sent with an idempotency key.
#[derive(Serialize, Deserialize)]
struct IdempotentReport {
    request_hash: String,
    report: Report,
}

#[derive(Debug)]
pub enum ReportOutcome {
    Created,
    /// The same request came before: this is the report it created.
    Replayed(Report),
    /// The key was used before for a different request.
    KeyReused,
}

#[derive(Debug)]
pub enum SignOutcome {
    Signed,
    Refused(SignatureRefusal),
}

impl Store {
    /// The items an account needs to act for a client, in one strongly consistent BatchGetItem.
    pub async fn client_access(
        &self,
        account: &AccountId,
        session: &SessionId,
        client: &ClientId,
    ) -> StoreResult<ClientAccessItems> {
        let keys = vec![
            key(account_pk(account), PROFILE),
            key(account_pk(account), session_sk(session)),
            key(account_pk(account), format!("{GRANT_PREFIX}{client}")),
            key(client_pk(client), PROFILE),
            read_mark_key(account, client),
            super::jobs::sync_state_key(),
        ];
        let mut found = ClientAccessItems::default();
        let mut last_sync = None;
        for item in self.batch_get(keys).await? {
            let (pk, sk) = (pk_of(&item).to_owned(), sk_of(&item).to_owned());
            if pk.starts_with("READMARK#") {
                found.reports_seen = record::<ReadMark>(item)?.reports_seen;
            } else if pk.starts_with("CLIENT#") {
                found.client = Some(record(item)?);
            } else if pk.starts_with(super::jobs::JOB_PREFIX) {
                last_sync = record::<super::jobs::SyncState>(item)?.completed_at;
            } else if sk == PROFILE {
                found.account = Some(record(item)?);
            } else if sk.starts_with(GRANT_PREFIX) {
                found.grant = Some(record(item)?);
            } else {
                found.session = Some(record(item)?);
            }
        }
        // A completed sync brought every client up to date, changed or not.
        if let Some(client) = &mut found.client {
            client.synced_at = client.synced_at.max(last_sync);
        }
        Ok(found)
    }

    /// The client's care-plan versions, newest first.
    fn care_plan_query(
        &self,
        client: &ClientId,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(client_pk(client)))
            .expression_attribute_values(":prefix", s(CARE_PLAN_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true)
    }

    /// Adds `added` to the client's report count, as a write of a transaction.
    pub(super) fn count_reports(
        &self,
        client: &ClientId,
        added: usize,
    ) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(client_pk(client), PROFILE)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("ADD report_count :added")
            .expression_attribute_values(":added", n(added))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The current care-plan version: the highest, read with one Query.
    pub async fn current_care_plan(
        &self,
        client: &ClientId,
    ) -> StoreResult<Option<CarePlanVersion>> {
        let output = self.care_plan_query(client).limit(1).send().await?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(record)
            .transpose()
    }

    /// Every care-plan version, newest first.
    pub async fn care_plan_versions(&self, client: &ClientId) -> StoreResult<Vec<CarePlanVersion>> {
        query_all(self.care_plan_query(client))
            .await?
            .into_iter()
            .map(record)
            .collect()
    }

    /// Up to `limit` reports, newest first, after the report with sort key `after`.
    pub async fn reports_page(
        &self,
        client: &ClientId,
        after: Option<&str>,
        limit: u16,
    ) -> StoreResult<Page<Report>> {
        let start = after.map(|sk| key(client_pk(client), sk));
        let output = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(client_pk(client)))
            .expression_attribute_values(":prefix", s(REPORT_PREFIX))
            .scan_index_forward(false)
            .set_exclusive_start_key(start)
            .limit(i32::from(limit))
            .send()
            .await?;
        page(output)
    }

    /// Appointments starting in `[from, to)`, earliest first; at most `limit` when given.
    pub async fn appointments(
        &self,
        client: &ClientId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: Option<i32>,
    ) -> StoreResult<Vec<Appointment>> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(client_pk(client)))
            .expression_attribute_values(
                ":from",
                s(format!("{APPOINTMENT_PREFIX}{:011}", from.unix_timestamp())),
            )
            // One starting at `to` sorts after this bound (`APPT#<to>#…`): the range is [from, to).
            .expression_attribute_values(
                ":to",
                s(format!("{APPOINTMENT_PREFIX}{:011}", to.unix_timestamp())),
            )
            .set_limit(limit);
        let items = match limit {
            Some(_) => query.send().await?.items.unwrap_or_default(),
            None => query_all(query).await?,
        };
        items.into_iter().map(record).collect()
    }

    /// The whole dossier partition, for the export.
    pub async fn dossier_items(&self, client: &ClientId) -> StoreResult<DossierItems> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(client_pk(client)));
        let mut dossier = DossierItems::default();
        for item in query_all(query).await? {
            let sk = sk_of(&item).to_owned();
            if sk.starts_with(CARE_PLAN_PREFIX) {
                dossier.care_plans.push(record(item)?);
            } else if sk.starts_with(REPORT_PREFIX) {
                dossier.reports.push(record(item)?);
            } else if sk.starts_with(APPOINTMENT_PREFIX) {
                dossier.appointments.push(record(item)?);
            }
        }
        dossier.care_plans.reverse();
        dossier.reports.reverse();
        Ok(dossier)
    }

    /// Appends the audit entry of a read; when the reader saw the newest reports, their read
    /// mark moves up in the same request.
    pub async fn record_read(
        &self,
        audit: &AuditEvent,
        reports_seen: Option<(&AccountId, &ClientId, u64)>,
    ) -> StoreResult<()> {
        let Some((account, client, seen)) = reports_seen else {
            return self.append_audit(audit).await;
        };
        let mark = Update::builder()
            .table_name(self.table())
            .set_key(Some(read_mark_key(account, client)))
            // Indexed under the client, so the purge of its dossier finds every reader's mark.
            .update_expression("SET reports_seen = :seen, gsi1pk = :client, gsi1sk = :reader")
            .expression_attribute_values(":seen", n(seen))
            .expression_attribute_values(":client", s(client_pk(client)))
            .expression_attribute_values(":reader", s(read_mark_pk(account)))
            .build()
            .map_err(build_error)?;
        self.transact(vec![
            audit_write(self.table(), audit)?,
            TransactWriteItem::builder().update(mark).build(),
        ])
        .await
    }

    /// Signs the current care-plan version: the signature on the version and on the client's
    /// head, the outbox entry and the audit entry, in one transaction whose conditions let only
    /// one signature of a version through.
    pub async fn sign_care_plan(
        &self,
        client: &ClientId,
        summary: &CarePlanSummary,
        outbox: &OutboxEntry,
        audit: &AuditEvent,
    ) -> StoreResult<SignOutcome> {
        let signature = summary
            .signature
            .as_ref()
            .ok_or_else(|| StoreError::Request("a signature is needed to sign".into()))?;
        let signature_value: AttributeValue = serde_dynamo::to_attribute_value(signature)?;
        let head = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(client_pk(client), PROFILE)))
            .condition_expression(
                "care_plan.version = :version AND care_plan.content_hash = :hash \
                 AND attribute_not_exists(care_plan.signature)",
            )
            .update_expression("SET care_plan.signature = :signature")
            .expression_attribute_values(":version", n(summary.version))
            .expression_attribute_values(":hash", s(&summary.content_hash))
            .expression_attribute_values(":signature", signature_value.clone())
            .build()
            .map_err(build_error)?;
        let version = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(client_pk(client), care_plan_sk(summary.version))))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(signature)")
            .update_expression("SET signature = :signature")
            .expression_attribute_values(":signature", signature_value)
            .build()
            .map_err(build_error)?;
        let writes = vec![
            TransactWriteItem::builder().update(head).build(),
            TransactWriteItem::builder().update(version).build(),
            put(self.table(), outbox_item(outbox)?),
            audit_write(self.table(), audit)?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(SignOutcome::Signed),
            // Someone signed, or a new version arrived, between the read and this write.
            Err(StoreError::ConditionFailed) => {
                let current = self
                    .get_client(client)
                    .await?
                    .and_then(|client| client.care_plan);
                let refusal = match current {
                    Some(current) => current
                        .check_signature(summary.version, &summary.content_hash)
                        .err()
                        .unwrap_or(SignatureRefusal::HashMismatch),
                    None => SignatureRefusal::NotCurrent { current: 0 },
                };
                Ok(SignOutcome::Refused(refusal))
            }
            Err(err) => Err(err),
        }
    }

    /// Adds a report written in the portal, with its outbox and audit entries, once per
    /// idempotency key: a repeat of the same request returns the report it made.
    pub async fn add_portal_report(
        &self,
        client: &ClientId,
        report: &Report,
        idempotency: (&AccountId, &IdempotencyKey, &str),
        outbox: &OutboxEntry,
        audit: &AuditEvent,
    ) -> StoreResult<ReportOutcome> {
        let (account, idempotency_key_value, request_hash) = idempotency;
        let remembered_pk = idempotency_pk(account, idempotency_key_value);
        let remembered = Keyed::new(
            remembered_pk.clone(),
            IDEMPOTENCY_SK,
            IdempotentReport {
                request_hash: request_hash.to_owned(),
                report: report.clone(),
            },
        )
        .expires(report.written_at.unix_timestamp() + IDEMPOTENCY_SECONDS)
        .into_item()?;
        let writes = vec![
            put(self.table(), remembered),
            put(
                self.table(),
                Keyed::new(client_pk(client), report_sk(&report.id), report).into_item()?,
            ),
            self.count_reports(client, 1)?,
            put(self.table(), outbox_item(outbox)?),
            audit_write(self.table(), audit)?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(ReportOutcome::Created),
            Err(StoreError::ConditionFailed) => {
                let earlier: Option<IdempotentReport> =
                    self.get_record(key(remembered_pk, IDEMPOTENCY_SK)).await?;
                match earlier {
                    Some(earlier) if earlier.request_hash == request_hash => {
                        Ok(ReportOutcome::Replayed(earlier.report))
                    }
                    Some(_) => Ok(ReportOutcome::KeyReused),
                    // Not the key: the client's profile is gone.
                    None => Err(StoreError::ConditionFailed),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// The client with its dossier head, read consistently.
    pub async fn get_client(&self, client: &ClientId) -> StoreResult<Option<Client>> {
        self.get_record(key(client_pk(client), PROFILE)).await
    }

    /// Outbox entries waiting for the ECD, oldest first.
    pub async fn pending_outbox(&self) -> StoreResult<Vec<OutboxEntry>> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(OUTBOX_PK))
            .consistent_read(true);
        query_all(query).await?.into_iter().map(record).collect()
    }

    /// The ECD acknowledged the entry: it leaves the outbox.
    pub async fn outbox_delivered(&self, entry: &OutboxEntry) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(outbox_key(entry)))
            .send()
            .await?;
        Ok(())
    }

    /// A delivery failed: the entry stays, with the attempt counted and the error kept.
    pub async fn outbox_attempt_failed(&self, entry: &OutboxEntry, error: &str) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(self.table())
            .set_key(Some(outbox_key(entry)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET attempts = attempts + :one, last_error = :error")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":error", s(error))
            .send()
            .await?;
        Ok(())
    }

    // What the ECD sync (and the demo seed) writes.

    /// Publishes a new care-plan version and makes it the client's current one; an older or
    /// equal version than the current is refused with `ConditionFailed`.
    pub async fn publish_care_plan(
        &self,
        client: &ClientId,
        version: &CarePlanVersion,
    ) -> StoreResult<()> {
        let head = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(client_pk(client), PROFILE)))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(care_plan) OR care_plan.version < :version)",
            )
            .update_expression("SET care_plan = :summary")
            .expression_attribute_values(":version", n(version.version))
            .expression_attribute_values(
                ":summary",
                serde_dynamo::to_attribute_value(version.summary())?,
            )
            .build()
            .map_err(build_error)?;
        self.transact(vec![
            put(
                self.table(),
                Keyed::new(client_pk(client), care_plan_sk(version.version), version)
                    .into_item()?,
            ),
            TransactWriteItem::builder().update(head).build(),
        ])
        .await
    }

    /// Adds reports from the ECD and counts them on the client, a transaction per hundred.
    pub async fn add_ecd_reports(&self, client: &ClientId, reports: &[Report]) -> StoreResult<()> {
        for chunk in reports.chunks(TRANSACTION_LIMIT - 1) {
            let mut writes = chunk
                .iter()
                .map(|report| {
                    Keyed::new(client_pk(client), report_sk(&report.id), report)
                        .into_item()
                        .map(|item| put(self.table(), item))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            writes.push(self.count_reports(client, chunk.len())?);
            self.transact(writes).await?;
        }
        Ok(())
    }

    /// Writes appointments (new or changed), 25 per batch.
    pub async fn put_appointments(
        &self,
        client: &ClientId,
        appointments: &[Appointment],
    ) -> StoreResult<()> {
        let requests = appointments
            .iter()
            .map(|appointment| {
                let item = Keyed::new(
                    client_pk(client),
                    appointment_sk(appointment.starts_at, &appointment.id),
                    appointment,
                )
                .into_item()?;
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(build_error)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    /// Records that the client's dossier is now as the ECD had it at `at`.
    pub async fn mark_synced(&self, client: &ClientId, at: OffsetDateTime) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(client_pk(client), PROFILE)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET synced_at = :at")
            .expression_attribute_values(
                ":at",
                s(at.format(&time::format_description::well_known::Rfc3339)
                    .map_err(|err| StoreError::Request(err.to_string()))?),
            )
            .send()
            .await?;
        Ok(())
    }
}

fn outbox_sk(entry: &OutboxEntry) -> String {
    format!("ENTRY#{}", entry.id)
}

fn outbox_key(entry: &OutboxEntry) -> Item {
    key(OUTBOX_PK.to_owned(), outbox_sk(entry))
}

fn outbox_item(entry: &OutboxEntry) -> StoreResult<Item> {
    Keyed::new(OUTBOX_PK.to_owned(), outbox_sk(entry), entry).into_item()
}

pub(super) fn page<T: for<'de> Deserialize<'de>>(
    output: aws_sdk_dynamodb::operation::query::QueryOutput,
) -> StoreResult<Page<T>> {
    let last_key = output
        .last_evaluated_key
        .as_ref()
        .and_then(|key| key.get("sk"))
        .and_then(|sk: &AttributeValue| sk.as_s().ok())
        .cloned();
    let items = output
        .items
        .unwrap_or_default()
        .into_iter()
        .map(record)
        .collect::<StoreResult<Vec<T>>>()?;
    Ok(Page { items, last_key })
}
