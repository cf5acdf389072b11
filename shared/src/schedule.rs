//! Scheduled functions: EventBridge invokes them with its scheduled event; the job runs once per
//! invocation and its report is the invocation's result (and a log line).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use time::OffsetDateTime;
use tracing::Instrument;

use crate::aws::SdkConfig;
use crate::config::ConfigError;

/// A job a schedule runs, built once per container from the environment.
pub trait ScheduledJob: Send + Sync + 'static {
    type Report: Serialize + Send;
    type Error: std::error::Error + Send + Sync + 'static;

    /// One run, for the moment the schedule fired.
    fn run(
        &self,
        scheduled_for: OffsetDateTime,
    ) -> impl Future<Output = Result<Self::Report, Self::Error>> + Send;
}

/// When the event says the schedule fired, else now.
pub fn scheduled_for(event: &EventBridgeEvent) -> OffsetDateTime {
    event
        .time
        .and_then(|at| OffsetDateTime::from_unix_timestamp(at.timestamp()).ok())
        .unwrap_or_else(crate::time::now)
}

/// The `main` of every scheduled function.
pub async fn run_scheduled<J: ScheduledJob>(
    build: impl FnOnce(&SdkConfig) -> Result<J, ConfigError>,
) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let sdk = crate::aws::load()?;
    let job = Arc::new(build(&sdk)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| {
        let job = Arc::clone(&job);
        async move {
            let at = scheduled_for(&event.payload);
            let span = tracing::info_span!("job", request_id = %event.context.request_id);
            // Boxed: a job's future nested inside the runtime's is deeper than rustc's layout
            // limit allows; one allocation per run is nothing next to the run.
            Box::pin(job.run(at))
                .instrument(span)
                .await
                .inspect_err(|err| tracing::error!(error = %err, "the job failed"))
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
