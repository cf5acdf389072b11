//! End-to-end tests live in `api.rs`; this crate has no library code of its own.
