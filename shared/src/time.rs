//! Wall-clock time behind one function so that expiry rules read the same everywhere.

use time::OffsetDateTime;

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RFC 3339 serialisation for timestamps in items and responses.
pub use time::serde::rfc3339;
