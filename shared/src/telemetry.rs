//! JSON logs through `tracing`. Secrets are wrapped in `secrecy` types and personal data is kept
//! out of spans, so nothing here needs to scrub.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once per process; `RUST_LOG` picks the level (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Lambda adds its own timestamps and request ids to every line it stores.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}
