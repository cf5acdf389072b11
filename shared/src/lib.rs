//! Everything the portal's Lambda functions share: configuration, value types, errors, HTTP
//! plumbing, authentication, storage, notifications and the audit log. Nothing here knows it runs
//! in Lambda except [`http::run`], the one entry point every function's `main` calls.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod aws;
pub mod closure;
pub mod config;
pub mod dossier;
pub mod ecd;
pub mod http;
pub mod listing;
pub mod notify;
pub mod problem;
pub mod schedule;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod terms;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod time;
pub mod types;
