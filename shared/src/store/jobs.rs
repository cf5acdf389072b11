//! The scheduled jobs' bookkeeping in the partition `JOB#<job>`: a lease, so that a job never
//! runs twice at once, and the sync's checkpoints, so that a sync that stopped halfway resumes
//! from the last page it committed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

use crate::types::EventId;

use super::{
    Epoch, Item, Keyed, Store, StoreError, StoreResult, conditional, held, key, n, query_all,
    record, s,
};

pub(super) const JOB_PREFIX: &str = "JOB#";
pub const SYNC_JOB: &str = "ecd-sync";
pub const SWEEP_JOB: &str = "closure-sweep";
const LEASE_SK: &str = "LEASE";
const STATE_SK: &str = "STATE";
const SINCE_PREFIX: &str = "SINCE#";

fn job_pk(job: &str) -> String {
    format!("{JOB_PREFIX}{job}")
}

pub(super) fn sync_state_key() -> Item {
    key(job_pk(SYNC_JOB), STATE_SK)
}

/// What a scheduled run did: its report, or nothing because another run held the lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum JobOutcome<R> {
    Completed(R),
    AlreadyRunning,
}

/// A job's lease while a run holds it. Given back by [`JobLease::release_after`]; if the run
/// dies first, the lease runs out by itself.
#[must_use]
pub struct JobLease<'a> {
    store: &'a Store,
    job: &'static str,
    holder: String,
}

impl JobLease<'_> {
    /// Gives the lease back once the run has its `result`, and returns that as the outcome.
    pub async fn release_after<R, E>(self, result: Result<R, E>) -> Result<JobOutcome<R>, E> {
        if let Err(err) = self.store.release_lease(self.job, &self.holder).await {
            tracing::warn!(job = self.job, error = %err, "the lease could not be given back; it runs out by itself");
        }
        result.map(JobOutcome::Completed)
    }
}

#[derive(Serialize, Deserialize)]
struct Lease {
    holder: String,
    expires_at: Epoch,
}

/// When the last sync run completed: every client's copy is at least as new as its start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncState {
    #[serde(
        default,
        with = "crate::time::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<OffsetDateTime>,
}

#[derive(Serialize, Deserialize)]
struct SincePoint {
    #[serde(with = "crate::time::rfc3339")]
    at: OffsetDateTime,
}

/// Where the sync stands: per kind of resource, the change time it has applied everything up
/// to, and when the last run completed.
#[derive(Debug, Clone, Default)]
pub struct SyncPoints {
    pub since: BTreeMap<String, OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
}

impl Store {
    /// The job's lease for a run starting at `now`, or `None` while another run holds it.
    pub async fn lease_job(
        &self,
        job: &'static str,
        now: Epoch,
        seconds: Epoch,
    ) -> StoreResult<Option<JobLease<'_>>> {
        let holder = EventId::generate().to_string();
        if !self.acquire_lease(job, &holder, now, seconds).await? {
            tracing::info!(job, "another run holds the lease");
            return Ok(None);
        }
        Ok(Some(JobLease {
            store: self,
            job,
            holder,
        }))
    }

    /// Takes the job's lease for `seconds` if nobody holds it or the holder's has run out;
    /// `false` when another run holds it.
    pub async fn acquire_lease(
        &self,
        job: &str,
        holder: &str,
        now: Epoch,
        seconds: Epoch,
    ) -> StoreResult<bool> {
        let lease = Lease {
            holder: holder.to_owned(),
            expires_at: now + seconds,
        };
        let result = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(
                Keyed::new(job_pk(job), LEASE_SK, lease)
                    .expires(now + seconds)
                    .into_item()?,
            ))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        held(conditional(result))
    }

    /// Gives the lease back, if `holder` still holds it.
    pub async fn release_lease(&self, job: &str, holder: &str) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(job_pk(job), LEASE_SK)))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        // Not held any more (it ran out and another run took it): nothing to give back.
        held(conditional(result)).map(drop)
    }

    /// The sync's checkpoints and last completion, in one query of its partition.
    pub async fn sync_points(&self) -> StoreResult<SyncPoints> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(job_pk(SYNC_JOB)))
            .consistent_read(true);
        let mut points = SyncPoints::default();
        for item in query_all(query).await? {
            let sk = super::dossier::sk_of(&item).to_owned();
            if let Some(kind) = sk.strip_prefix(SINCE_PREFIX) {
                let point: SincePoint = record(item)?;
                points.since.insert(kind.to_owned(), point.at);
            } else if sk == STATE_SK {
                points.completed_at = record::<SyncState>(item)?.completed_at;
            }
        }
        Ok(points)
    }

    /// Commits that every change of `kind` up to `at` has been applied.
    pub async fn save_sync_point(&self, kind: &str, at: OffsetDateTime) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(self.table())
            .set_item(Some(
                Keyed::new(
                    job_pk(SYNC_JOB),
                    format!("{SINCE_PREFIX}{kind}"),
                    SincePoint { at },
                )
                .into_item()?,
            ))
            .send()
            .await?;
        Ok(())
    }

    /// Records a completed run; the dossier routes show its start as `synced_at`.
    pub async fn complete_sync(&self, started_at: OffsetDateTime) -> StoreResult<()> {
        let state = SyncState {
            completed_at: Some(started_at),
        };
        self.client
            .put_item()
            .table_name(self.table())
            .set_item(Some(
                Keyed::new(job_pk(SYNC_JOB), STATE_SK, state).into_item()?,
            ))
            .send()
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }
}
