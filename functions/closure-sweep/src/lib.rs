//! The daily closure sweep as a scheduled function: `shared::closure` does the work.

use shared::aws::SdkConfig;
use shared::closure::{SweepReport, SweepSettings};
use shared::config::ConfigError;
use shared::schedule::ScheduledJob;
use shared::store::{JobOutcome, Store, StoreError};
use time::OffsetDateTime;

pub struct ClosureSweep {
    pub store: Store,
    pub settings: SweepSettings,
}

impl ScheduledJob for ClosureSweep {
    type Report = JobOutcome<SweepReport>;
    type Error = StoreError;

    /// The sweep closes what is due on the day the schedule fired for, even when it runs late.
    async fn run(
        &self,
        scheduled_for: OffsetDateTime,
    ) -> Result<JobOutcome<SweepReport>, StoreError> {
        shared::closure::run(&self.store, &self.settings, scheduled_for).await
    }
}

pub fn from_env(sdk: &SdkConfig) -> Result<ClosureSweep, ConfigError> {
    Ok(ClosureSweep {
        store: Store::from_env(sdk)?,
        settings: SweepSettings::from_env()?,
    })
}
