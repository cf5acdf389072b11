//! The daily closure sweep (Art 4.1), under its own lease. For every client whose closure day
//! (death or end of care, as the sync learnt it, plus the delay) has come:
//!
//! 1. each account with a grant for the client loses that grant; an account left without any
//!    client is closed and its sessions end (the client's, the representative's and authorised
//!    users' accounts alike);
//! 2. the client's portal is closed (nobody reads its dossier any more) and its purge is
//!    scheduled after the retention;
//!
//! and for every closed client whose retention has passed, the portal's copy of the dossier is
//! deleted. The audit log is kept. Every step is safe to repeat, and a client leaves the
//! schedule only in the step's last write, so a sweep that stops halfway finishes next time.

use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::audit::{AuditAction, AuditEvent, Origin, Outcome};
use crate::config::{self, ConfigError};
use crate::store::{Client, Due, JobOutcome, SWEEP_JOB, Store, StoreError};

#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// Days the portal keeps a closed client's dossier before purging it.
    pub retention_days: i64,
    pub lease_seconds: i64,
}

impl SweepSettings {
    /// `DOSSIER_RETENTION_DAYS` (default 30) and `JOB_LEASE_SECONDS` (default 960).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            retention_days: config::parsed_or("DOSSIER_RETENTION_DAYS", 30)?,
            lease_seconds: config::parsed_or("JOB_LEASE_SECONDS", 960)?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub clients_closed: usize,
    pub accounts_closed: usize,
    /// Accounts that kept access to another client and lost only this one.
    pub grants_removed: usize,
    pub dossiers_purged: usize,
    pub items_purged: usize,
}

/// One sweep for the day of `now`.
pub async fn run(
    store: &Store,
    settings: &SweepSettings,
    now: OffsetDateTime,
) -> Result<JobOutcome<SweepReport>, StoreError> {
    let Some(lease) = store
        .lease_job(SWEEP_JOB, now.unix_timestamp(), settings.lease_seconds)
        .await?
    else {
        return Ok(JobOutcome::AlreadyRunning);
    };
    lease.release_after(sweep(store, settings, now).await).await
}

async fn sweep(
    store: &Store,
    settings: &SweepSettings,
    now: OffsetDateTime,
) -> Result<SweepReport, StoreError> {
    let today = now.date();
    let mut report = SweepReport::default();
    for due in store.closures_due(today).await? {
        match store.get_client(&due.client).await? {
            Some(client) if client.closed_at.is_none() => {
                close(store, settings, &client, &due, now, &mut report).await?;
            }
            // Gone or closed already: only the schedule entry is left.
            _ => store.drop_closure(&due).await?,
        }
    }
    for due in store.purges_due(today).await? {
        let audit = system_event(AuditAction::DossierPurged, now)
            .about_client(&due.client)
            .detail(format!("retention ended {}", due.on));
        report.items_purged += store.purge_client(&due, &audit).await?;
        report.dossiers_purged += 1;
    }
    tracing::info!(?report, "sweep completed");
    Ok(report)
}

async fn close(
    store: &Store,
    settings: &SweepSettings,
    client: &Client,
    due: &Due,
    now: OffsetDateTime,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let reason = closure_reason(client);
    for account in store.grant_holders(&client.id).await? {
        let Some(context) = store.account_context(&account).await? else {
            continue;
        };
        let audit = system_event(AuditAction::AccountClosed, now)
            .about_client(&client.id)
            .detail(format!("account {account}: {reason}"));
        if store
            .close_account_for_client(&context, &client.id, &audit)
            .await?
        {
            report.accounts_closed += 1;
        } else {
            report.grants_removed += 1;
        }
    }
    let purge_on = now
        .date()
        .checked_add(time::Duration::days(settings.retention_days))
        .unwrap_or(Date::MAX);
    let audit = system_event(AuditAction::ClientClosed, now)
        .about_client(&client.id)
        .detail(reason);
    store
        .close_client(client, due, purge_on, now, &audit)
        .await?;
    report.clients_closed += 1;
    Ok(())
}

fn closure_reason(client: &Client) -> String {
    match (client.deceased_on, client.care_ended_on) {
        (Some(day), _) => format!("client died {day}"),
        (None, Some(day)) => format!("care ended {day}"),
        (None, None) => "closure due".to_owned(),
    }
}

/// An entry written by a scheduled job rather than by anyone's request.
fn system_event(action: AuditAction, now: OffsetDateTime) -> AuditEvent {
    AuditEvent::new(
        action,
        Outcome::Success,
        now.unix_timestamp(),
        &Origin::default(),
    )
}
