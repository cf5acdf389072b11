//! The hourly ECD sync as a scheduled function: `shared::sync` does the work.

use shared::aws::SdkConfig;
use shared::config::ConfigError;
use shared::ecd::EcdClient;
use shared::schedule::ScheduledJob;
use shared::store::{JobOutcome, Store};
use shared::sync::{SyncError, SyncReport, SyncSettings};
use time::OffsetDateTime;

pub struct EcdSync {
    pub store: Store,
    pub ecd: EcdClient,
    pub settings: SyncSettings,
}

impl ScheduledJob for EcdSync {
    type Report = JobOutcome<SyncReport>;
    type Error = SyncError;

    /// A sync reads what changed up to now, whenever the schedule fired.
    async fn run(
        &self,
        _scheduled_for: OffsetDateTime,
    ) -> Result<JobOutcome<SyncReport>, SyncError> {
        shared::sync::run(&self.store, &self.ecd, &self.settings).await
    }
}

pub fn from_env(sdk: &SdkConfig) -> Result<EcdSync, ConfigError> {
    Ok(EcdSync {
        store: Store::from_env(sdk)?,
        ecd: EcdClient::from_env()?,
        settings: SyncSettings::from_env()?,
    })
}
