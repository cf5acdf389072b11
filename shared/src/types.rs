//! Value types that can only hold valid values (parse, don't validate). Each parses from the
//! text a user or an item supplies and serialises back to the same text.

use serde::{Deserialize, Deserializer, Serialize, de};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub reason: &'static str,
}

impl InvalidValue {
    pub fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }
}

/// Implements `Display`, `FromStr`, `Serialize`, `Deserialize` and `as_str` for a string newtype
/// whose inner value went through `parse`.
macro_rules! text_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(de::Error::custom)
            }
        }
    };
}

/// A ULID that sorts after every one this process made before, even within one millisecond,
/// so that audit entries written together keep their order.
fn monotonic_ulid() -> ulid::Ulid {
    static GENERATOR: std::sync::Mutex<ulid::Generator> =
        std::sync::Mutex::new(ulid::Generator::new());
    let next = GENERATOR
        .lock()
        .ok()
        .and_then(|mut generator| generator.generate().ok());
    // Only a poisoned lock or 2^80 ids in one millisecond end up here.
    match next {
        Some(ulid) => ulid,
        None => ulid::Ulid::new(),
    }
}

/// Identifiers minted by the portal: ULIDs, which sort by creation time.
macro_rules! ulid_id {
    ($name:ident, $field:literal, $mint:path) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self($mint().to_string())
            }
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                ulid::Ulid::from_string(raw)
                    .map(|id| Self(id.to_string()))
                    .map_err(|_| InvalidValue::new($field, "is not a valid identifier"))
            }
        }
        text_value!($name);
    };
}

ulid_id!(AccountId, "account_id", ulid::Ulid::new);
ulid_id!(SessionId, "session_id", ulid::Ulid::new);
// Random, not monotonic: the next challenge id must not be guessable from the last.
ulid_id!(ChallengeId, "challenge_id", ulid::Ulid::new);
ulid_id!(EventId, "event_id", monotonic_ulid);
// Reports sort newest first by id, so the id carries the time the report was written.
ulid_id!(ReportId, "report_id", monotonic_ulid);

impl ReportId {
    /// An id for a report written at `at` (a report from the ECD keeps its own time).
    pub fn written_at(at: time::OffsetDateTime) -> Self {
        Self(ulid::Ulid::from_datetime(at.into()).to_string())
    }

    /// The id of a report the ECD holds as `ecd_id`: its time, then 80 bits of the SHA-256 of
    /// the ECD's id, so every sync gives the same report the same id.
    pub fn from_ecd(at: time::OffsetDateTime, ecd_id: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(ecd_id.as_bytes());
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        Self(ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string())
    }
}

/// The `Idempotency-Key` a client sends with a write it may retry: 8 to 100 letters, digits,
/// dashes or underscores (a UUID fits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let valid = (8..=100).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue::new(
                "idempotency_key",
                "must be 8 to 100 letters, digits, '-' or '_', e.g. a UUID",
            ))
        }
    }
}
text_value!(IdempotencyKey);

/// A client's identifier as the ECD knows it: letters, digits and dashes, up to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue::new(
                "client_id",
                "must be 1 to 64 letters, digits or dashes",
            ))
        }
    }
}
text_value!(ClientId);

/// A login name: 3 to 64 characters of lower-case letters, digits, `.`, `_` and `-`, starting
/// with a letter or digit. Input is trimmed and lower-cased, so `Jan.Jansen` and `jan.jansen` are
/// the same account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let normalised = raw.trim().to_lowercase();
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        let valid = (3..=64).contains(&normalised.len())
            && normalised.chars().all(allowed)
            && normalised
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if valid {
            Ok(Self(normalised))
        } else {
            Err(InvalidValue::new(
                "username",
                "must be 3 to 64 letters, digits, '.', '_' or '-'",
            ))
        }
    }
}
text_value!(Username);

/// A mobile number in E.164 form (`+31612345678`). Spaces and dashes are accepted on input and
/// dropped; a Dutch number written `06…` is read as `+316…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let international = match compact.strip_prefix("06") {
            Some(rest) => format!("+316{rest}"),
            None => compact,
        };
        let digits = international.strip_prefix('+').unwrap_or("");
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(international))
        } else {
            Err(InvalidValue::new(
                "phone_number",
                "must be a mobile number in international form, e.g. +31612345678",
            ))
        }
    }

    /// The number as shown to someone who is logging in: only the last two digits visible.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let (hidden, visible) = digits.split_at(digits.len() - 2);
        format!("+{}{visible}", "*".repeat(hidden.len()))
    }
}
text_value!(PhoneNumber);

/// An e-mail address: one `@`, a non-empty local part, a domain with a dot, at most 254
/// characters. The domain is lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let invalid = || {
            InvalidValue::new(
                "email",
                "must be an e-mail address such as name@example.org",
            )
        };
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && !local.contains('@')
            && !local.chars().any(|c| c.is_whitespace() || c.is_control());
        if trimmed.len() <= 254 && domain_ok && local_ok {
            Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
        } else {
            Err(invalid())
        }
    }
}
text_value!(EmailAddress);

/// The six digits of an SMS code as typed by the user.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.len() == 6 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(InvalidValue::new("code", "must be the 6 digits of the SMS"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(******)")
    }
}

impl<'de> Deserialize<'de> for OtpCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_restricted() {
        assert_eq!(
            Username::parse(" Jan.Jansen ").unwrap().as_str(),
            "jan.jansen"
        );
        for bad in ["", "ab", ".dot", "has space", "émile", &"a".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phone_numbers_become_e164_and_mask_all_but_two_digits() {
        let phone = PhoneNumber::parse("06 1234 5678").unwrap();
        assert_eq!(phone.as_str(), "+31612345678");
        assert_eq!(phone.masked(), "+*********78");
        assert_eq!(PhoneNumber::parse("+31-6-12345678").unwrap(), phone);
        for bad in [
            "12345678",
            "+31",
            "+0612345678",
            "+31abc45678",
            "+1234567890123456",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn email_addresses_need_a_local_part_and_a_dotted_domain() {
        assert_eq!(
            EmailAddress::parse("Jan@Oktober.NL").unwrap().as_str(),
            "Jan@oktober.nl"
        );
        for bad in [
            "jan",
            "@oktober.nl",
            "jan@oktober",
            "jan@.nl",
            "j an@oktober.nl",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = AccountId::generate();
        assert_eq!(AccountId::parse(id.as_str()).unwrap(), id);
        assert!(SessionId::parse("not-a-ulid").is_err());
        assert!(ClientId::parse("C-1001").is_ok());
        assert!(ClientId::parse("C 1001").is_err());
        assert!(ClientId::parse("").is_err());
    }

    #[test]
    fn otp_codes_are_six_digits_and_never_printed() {
        assert!(OtpCode::parse("123456").is_ok());
        for bad in ["12345", "1234567", "12345a", ""] {
            assert!(OtpCode::parse(bad).is_err());
        }
        assert!(!format!("{:?}", OtpCode::parse("123456").unwrap()).contains("123"));
    }
}
