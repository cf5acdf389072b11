//! The hourly sync with the ECD (Art 1.5, SPEC §5). One run, under the job's lease:
//!
//! 1. delivers the outbox (reports and signatures written in the portal) to the ECD;
//! 2. per kind of resource, reads what changed since its checkpoint, page by page, applies each
//!    page and then commits the page's newest change time as the new checkpoint, so a run that
//!    stops halfway resumes at the last committed page;
//! 3. records the run's start as the time every client was last synced.
//!
//! Applying a page costs one batch read for the clients and references it concerns plus the
//! writes of what changed, so a run's cost follows the number of changes, not the table.
//! Reading from the checkpoint inclusively means a page may be seen twice; every write is
//! idempotent, and reports are counted only when their reference did not exist yet.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime};

use crate::config::{self, ConfigError};
use crate::ecd::{self, EcdChange, EcdClient, EcdError, ResourceType, Skipped};
use crate::store::{ClientFacts, JobOutcome, SYNC_JOB, Store, StoreError, SyncBatch};
use crate::types::ClientId;

#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Days after death or end of care before the portal closes (Art 4.1: 14).
    pub closure_delay_days: i64,
    /// How long a run may hold the lease: longer than the function's time-out.
    pub lease_seconds: i64,
}

impl SyncSettings {
    /// `CLOSURE_DELAY_DAYS` (default 14) and `JOB_LEASE_SECONDS` (default 960).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            closure_delay_days: config::parsed_or("CLOSURE_DELAY_DAYS", 14)?,
            lease_seconds: config::parsed_or("JOB_LEASE_SECONDS", 960)?,
        })
    }

    /// The day the portal of a client who died or whose care ended closes.
    pub fn closes_on(
        &self,
        deceased_on: Option<Date>,
        care_ended_on: Option<Date>,
    ) -> Option<Date> {
        let ended = match (deceased_on, care_ended_on) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        ended.checked_add(time::Duration::days(self.closure_delay_days))
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Outbox entries the ECD acknowledged.
    pub delivered: usize,
    /// Outbox entries the ECD refused; they stay in the outbox and are tried again.
    pub refused: usize,
    pub pages: usize,
    pub resources: usize,
    /// Resources applied to a client of the portal.
    pub applied: usize,
    /// Resources of clients the portal does not have, or has closed.
    pub not_in_portal: usize,
    /// Resources the portal does not show or could not read.
    pub skipped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ecd(#[from] EcdError),
}

/// One run of the sync. An error leaves every committed page committed; the next run resumes.
pub async fn run(
    store: &Store,
    ecd: &EcdClient,
    settings: &SyncSettings,
) -> Result<JobOutcome<SyncReport>, SyncError> {
    let started_at = crate::time::now();
    let Some(lease) = store
        .lease_job(
            SYNC_JOB,
            started_at.unix_timestamp(),
            settings.lease_seconds,
        )
        .await?
    else {
        return Ok(JobOutcome::AlreadyRunning);
    };
    lease
        .release_after(run_leased(store, ecd, settings, started_at).await)
        .await
}

async fn run_leased(
    store: &Store,
    ecd: &EcdClient,
    settings: &SyncSettings,
    started_at: OffsetDateTime,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    deliver_outbox(store, ecd, &mut report).await?;
    let points = store.sync_points().await?;
    for kind in ResourceType::SYNCED {
        let mut committed = points.since.get(kind.as_str()).copied();
        let mut page = ecd.changed_since(kind, committed).await?;
        loop {
            let newest = apply_page(store, settings, &page.resources, &mut report).await?;
            if let Some(newest) = newest.filter(|newest| Some(*newest) > committed) {
                store.save_sync_point(kind.as_str(), newest).await?;
                committed = Some(newest);
            }
            match page.next {
                Some(next) => page = ecd.next_page(&next).await?,
                None => break,
            }
        }
    }
    store.complete_sync(started_at).await?;
    tracing::info!(?report, "sync completed");
    Ok(report)
}

/// Sends every pending outbox entry, oldest first. An entry the ECD refuses stays and is
/// counted; when the ECD is unavailable the run stops, as reading from it would fail too.
async fn deliver_outbox(
    store: &Store,
    ecd: &EcdClient,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    for entry in store.pending_outbox().await? {
        match ecd.submit(&entry).await {
            Ok(()) => {
                store.outbox_delivered(&entry).await?;
                report.delivered += 1;
            }
            Err(err) => {
                store
                    .outbox_attempt_failed(&entry, &err.to_string())
                    .await?;
                if err.is_transient() {
                    return Err(err.into());
                }
                tracing::error!(entry = %entry.id, error = %err, "the ECD refused an outbox entry");
                report.refused += 1;
            }
        }
    }
    Ok(())
}

/// The reference an ECD resource is tracked under, e.g. `Observation/obs-1`.
fn ecd_ref(kind: ResourceType, id: &str) -> String {
    format!("{}/{id}", kind.as_str())
}

/// Applies one page of changed resources; returns the newest change time among them.
async fn apply_page(
    store: &Store,
    settings: &SyncSettings,
    resources: &[Value],
    report: &mut SyncReport,
) -> Result<Option<OffsetDateTime>, StoreError> {
    report.pages += 1;
    report.resources += resources.len();
    let newest = resources.iter().filter_map(ecd::last_updated).max();
    let mut changes = Vec::with_capacity(resources.len());
    for resource in resources {
        match ecd::interpret(resource) {
            Ok(change) => changes.push(change),
            Err(reason) => {
                if let Skipped::Unusable(_) = reason {
                    tracing::warn!(
                        kind = resource["resourceType"].as_str(),
                        id = resource["id"].as_str(),
                        %reason,
                        "ECD resource skipped"
                    );
                }
                report.skipped += 1;
            }
        }
    }
    let mut clients: Vec<ClientId> = changes.iter().map(|c| c.client().clone()).collect();
    clients.sort();
    clients.dedup();
    let refs: Vec<(ClientId, String)> = changes
        .iter()
        .filter_map(|change| match change {
            EcdChange::Report { client, ecd_id, .. } => {
                Some((client.clone(), ecd_ref(ResourceType::Observation, ecd_id)))
            }
            EcdChange::Appointment { client, ecd_id, .. } => {
                Some((client.clone(), ecd_ref(ResourceType::Appointment, ecd_id)))
            }
            _ => None,
        })
        .collect();
    let lookup = store.sync_lookup(&clients, &refs).await?;

    let mut batch = SyncBatch::default();
    let mut new_reports: BTreeMap<ClientId, Vec<(String, crate::dossier::Report)>> =
        BTreeMap::new();
    for change in changes {
        let Some(client) = lookup
            .clients
            .get(change.client())
            .filter(|client| client.closed_at.is_none())
        else {
            report.not_in_portal += 1;
            continue;
        };
        report.applied += 1;
        match change {
            EcdChange::Client {
                name, deceased_on, ..
            } => {
                let facts = ClientFacts {
                    display_name: name.unwrap_or_else(|| client.display_name.clone()),
                    deceased_on,
                    care_ended_on: client.care_ended_on,
                    closes_on: settings.closes_on(deceased_on, client.care_ended_on),
                };
                record_facts(store, client, facts).await?;
            }
            EcdChange::CareEpisode { ended_on, .. } => {
                let facts = ClientFacts {
                    display_name: client.display_name.clone(),
                    deceased_on: client.deceased_on,
                    care_ended_on: ended_on,
                    closes_on: settings.closes_on(client.deceased_on, ended_on),
                };
                record_facts(store, client, facts).await?;
            }
            EcdChange::CarePlan { version, .. } => {
                let newer = client
                    .care_plan
                    .as_ref()
                    .is_none_or(|current| current.version < version.version);
                if newer {
                    match store.publish_care_plan(&client.id, &version).await {
                        // A page seen twice: the version is already there.
                        Ok(()) | Err(StoreError::ConditionFailed) => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            EcdChange::Report {
                ecd_id, report: r, ..
            } => {
                let reference = ecd_ref(ResourceType::Observation, &ecd_id);
                match (r, lookup.stored(&client.id, &reference)) {
                    (Some(r), Some(stored)) => {
                        batch.update_report(&client.id, &reference, &r, stored)?
                    }
                    (Some(r), None) => new_reports
                        .entry(client.id.clone())
                        .or_default()
                        .push((reference, r)),
                    // Entered in error: no longer shown. The count of reports stays, so an
                    // unread one may be counted until the reader opens the list.
                    (None, Some(stored)) => batch.remove(&client.id, &reference, stored)?,
                    (None, None) => {}
                }
            }
            EcdChange::Appointment {
                ecd_id,
                appointment,
                ..
            } => {
                let reference = ecd_ref(ResourceType::Appointment, &ecd_id);
                let stored = lookup.stored(&client.id, &reference);
                match (appointment, stored) {
                    (Some(appointment), stored) => {
                        batch.put_appointment(&client.id, &reference, &appointment, stored)?
                    }
                    (None, Some(stored)) => batch.remove(&client.id, &reference, stored)?,
                    (None, None) => {}
                }
            }
        }
    }
    for (client, reports) in new_reports {
        store.add_synced_reports(&client, &reports).await?;
    }
    if !batch.is_empty() {
        store.write_sync_batch(batch).await?;
    }
    Ok(newest)
}

/// Writes the client's facts when they changed.
async fn record_facts(
    store: &Store,
    client: &crate::store::Client,
    facts: ClientFacts,
) -> Result<(), StoreError> {
    let unchanged = facts.display_name == client.display_name
        && facts.deceased_on == client.deceased_on
        && facts.care_ended_on == client.care_ended_on
        && facts.closes_on == client.closes_on;
    if unchanged {
        return Ok(());
    }
    store.record_client_facts(client, &facts).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_portal_closes_a_delay_after_the_earlier_of_death_and_end_of_care() {
        let settings = SyncSettings {
            closure_delay_days: 14,
            lease_seconds: 60,
        };
        assert_eq!(settings.closes_on(None, None), None);
        assert_eq!(
            settings.closes_on(Some(date!(2026 - 11 - 14)), None),
            Some(date!(2026 - 11 - 28))
        );
        assert_eq!(
            settings.closes_on(None, Some(date!(2026 - 12 - 20))),
            Some(date!(2027 - 01 - 03))
        );
        assert_eq!(
            settings.closes_on(Some(date!(2026 - 12 - 01)), Some(date!(2026 - 11 - 30))),
            Some(date!(2026 - 12 - 14))
        );
    }
}
