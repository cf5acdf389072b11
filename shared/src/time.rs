//! Wall-clock time behind one function so that expiry rules read the same everywhere.

use time::OffsetDateTime;

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RFC 3339 serialisation for timestamps in items and responses.
pub use time::serde::rfc3339;

// Calendar days (a death, the end of care, a closure) as `2026-11-14` in items.
time::serde::format_description!(pub iso_date, Date, "[year]-[month]-[day]");
