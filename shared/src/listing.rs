//! Query parameters of the list routes: opaque cursors, page sizes and bounded periods.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

use crate::problem::ApiError;

/// A position in a list: the sort key of the last item shown, base64url-encoded. The client
/// passes it back unchanged; the route checks it belongs to its own list.
pub fn encode_cursor(sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(sort_key)
}

/// The sort key in `cursor`, if it is one of the list whose keys are `prefix` and a ULID.
pub fn decode_cursor(cursor: &str, prefix: &str) -> Result<String, ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| ApiError::InvalidCursor)?;
    let sort_key = String::from_utf8(bytes).map_err(|_| ApiError::InvalidCursor)?;
    let id = sort_key
        .strip_prefix(prefix)
        .ok_or(ApiError::InvalidCursor)?;
    ulid::Ulid::from_string(id).map_err(|_| ApiError::InvalidCursor)?;
    Ok(sort_key)
}

/// The page size a list route serves: `limit` when given and within `1..=max`.
pub fn page_size(limit: Option<u16>, default: u16, max: u16) -> Result<u16, ApiError> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {max}"
        ))),
    }
}

/// A moment as a query parameter: an RFC 3339 time (`2026-12-01T08:00:00+01:00`) or a date
/// (`2026-12-01`, meaning its start in UTC).
pub fn parse_moment(name: &str, raw: &str) -> Result<OffsetDateTime, ApiError> {
    if let Ok(at) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(at);
    }
    Date::parse(raw, format_description!("[year]-[month]-[day]"))
        .map(|date| date.midnight().assume_utc())
        .map_err(|_| {
            ApiError::InvalidPeriod(format!(
                "{name} must be a date (2026-12-01) or an RFC 3339 time (2026-12-01T08:00:00+01:00)"
            ))
        })
}

/// A half-open period `[from, to)` no longer than a route allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl Period {
    /// `from` and `to` from the query; a missing end is filled in from the other end (or from
    /// `now` on the side `anchor_at_start` says) with the route's default length.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: OffsetDateTime,
        default_days: i64,
        max_days: i64,
        anchor_at_start: bool,
    ) -> Result<Self, ApiError> {
        let default = Duration::days(default_days);
        let from = from.map(|raw| parse_moment("from", raw)).transpose()?;
        let to = to.map(|raw| parse_moment("to", raw)).transpose()?;
        let (from, to) = match (from, to) {
            (Some(from), Some(to)) => (Some(from), Some(to)),
            (Some(from), None) => (Some(from), from.checked_add(default)),
            (None, Some(to)) => (to.checked_sub(default), Some(to)),
            (None, None) if anchor_at_start => (Some(now), now.checked_add(default)),
            (None, None) => (now.checked_sub(default), Some(now)),
        };
        // Years outside 1–9999 cannot be written back as RFC 3339.
        let in_range = |at: &OffsetDateTime| (1..=9999).contains(&at.year());
        let (Some(from), Some(to)) = (from.filter(in_range), to.filter(in_range)) else {
            return Err(ApiError::InvalidPeriod(
                "the period must lie within the years 1 to 9999".into(),
            ));
        };
        if from >= to {
            return Err(ApiError::InvalidPeriod("from must be before to".into()));
        }
        if to - from > Duration::days(max_days) {
            return Err(ApiError::PeriodTooLong { max_days });
        }
        Ok(Self { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 10:00 UTC);

    #[test]
    fn cursors_round_trip_and_only_fit_their_own_list() {
        let sort_key = format!("REPORT#{}", ulid::Ulid::new());
        let cursor = encode_cursor(&sort_key);
        assert_eq!(decode_cursor(&cursor, "REPORT#").unwrap(), sort_key);
        assert!(decode_cursor(&cursor, "EVENT#").is_err());
        for bad in ["", "%%%", &encode_cursor("REPORT#nope"), "UkVQT1JUIw"] {
            assert!(decode_cursor(bad, "REPORT#").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn page_sizes_stay_within_bounds() {
        assert_eq!(page_size(None, 20, 50).unwrap(), 20);
        assert_eq!(page_size(Some(50), 20, 50).unwrap(), 50);
        assert!(page_size(Some(0), 20, 50).is_err());
        assert!(page_size(Some(51), 20, 50).is_err());
    }

    #[test]
    fn periods_are_filled_in_ordered_and_bounded() {
        let period = Period::parse(Some("2026-12-01"), None, NOW, 30, 93, true).unwrap();
        assert_eq!(period.from, datetime!(2026-12-01 0:00 UTC));
        assert_eq!(period.to, datetime!(2026-12-31 0:00 UTC));

        let around_now = Period::parse(None, None, NOW, 30, 93, false).unwrap();
        assert_eq!(around_now.to, NOW);

        let offset = Period::parse(
            Some("2026-12-01T08:00:00+01:00"),
            Some("2026-12-02"),
            NOW,
            30,
            93,
            true,
        )
        .unwrap();
        assert_eq!(offset.from, datetime!(2026-12-01 7:00 UTC));

        assert!(matches!(
            Period::parse(Some("2026-12-02"), Some("2026-12-01"), NOW, 30, 93, true),
            Err(ApiError::InvalidPeriod(_))
        ));
        assert!(matches!(
            Period::parse(Some("2026-01-01"), Some("2026-12-01"), NOW, 30, 93, true),
            Err(ApiError::PeriodTooLong { max_days: 93 })
        ));
        for (from, to) in [
            (Some("1 december"), None),
            (Some("9999-12-30"), None),
            (None, Some("0000-01-10")),
        ] {
            assert!(
                matches!(
                    Period::parse(from, to, NOW, 30, 93, true),
                    Err(ApiError::InvalidPeriod(_))
                ),
                "{from:?} {to:?}"
            );
        }
    }
}
