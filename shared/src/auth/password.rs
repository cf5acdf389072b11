//! Passwords: argon2id with OWASP's parameters, always hashed and verified on a blocking thread
//! so the async executor keeps serving other requests.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::store::PasswordHash;

/// OWASP's minimum for argon2id: 19 MiB, two passes, one lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 128;

/// Passwords people pick most, long enough to pass the length rule; refused when set.
const COMMON_PASSWORDS: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789123",
    "qwertyuiopas",
    "qwertyuiop123",
    "password1234",
    "password12345",
    "passwordpassword",
    "welkom123456",
    "welkomwelkom",
    "wachtwoord12",
    "wachtwoord123",
    "wachtwoord1234",
    "iloveyou1234",
    "abcdefghijkl",
    "abc123abc123",
    "111111111111",
    "000000000000",
    "aaaaaaaaaaaa",
    "letmein12345",
    "football1234",
    "princess1234",
    "sunshine1234",
    "monkey123456",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "zaq12wsxcde3",
    "administrator",
    "changeme1234",
];

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordRejected {
    #[error("the password must be at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("the password must be at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("this password is too common; choose another")]
    TooCommon,
}

/// A password someone wants to set, checked against the policy (SPEC §4).
pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn parse(candidate: SecretString) -> Result<Self, PasswordRejected> {
        let text = candidate.expose_secret();
        let length = text.chars().count();
        if length < MIN_LENGTH {
            return Err(PasswordRejected::TooShort);
        }
        if length > MAX_LENGTH {
            return Err(PasswordRejected::TooLong);
        }
        let lowered = text.to_lowercase();
        if COMMON_PASSWORDS.contains(&lowered.as_str())
            || lowered.chars().all(|c| lowered.starts_with(c))
        {
            return Err(PasswordRejected::TooCommon);
        }
        Ok(Self(candidate))
    }

    pub async fn hash(self) -> PasswordHash {
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            let hash = argon2()
                .hash_password(self.0.expose_secret().as_bytes(), &salt)
                .expect("argon2 hashing with valid parameters cannot fail");
            PasswordHash(hash.to_string())
        })
        .await
        .expect("hashing task does not panic")
    }
}

/// The hash of a random password nobody kept, with the parameters above, so that an unknown
/// username costs the same argon2 work as a wrong password. Not a secret.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$AqfdtJRAkOmZu7fzd2/vBw$bYh2vIxE15fzeYaP9PnSVf12m/jNrztzCErNVsYLu+c";

/// Whether `password` matches `stored`; with no stored hash, verifies against the dummy hash and
/// answers `false` after the same work.
pub async fn verify(password: SecretString, stored: Option<PasswordHash>) -> bool {
    tokio::task::spawn_blocking(move || {
        let phc = stored.as_ref().map_or(DUMMY_HASH, |hash| hash.0.as_str());
        let Ok(parsed) = argon2::PasswordHash::new(phc) else {
            return false;
        };
        let matches = argon2()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        matches && stored.is_some()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hash = NewPassword::parse("correct horse battery".into())
            .unwrap()
            .hash()
            .await;
        assert!(
            hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.0
        );
        assert!(verify("correct horse battery".into(), Some(hash.clone())).await);
        assert!(!verify("correct horse batterY".into(), Some(hash)).await);
        assert!(!verify("anything".into(), None).await);
    }

    #[test]
    fn the_dummy_hash_has_the_parameters_in_force() {
        let parsed = argon2::PasswordHash::new(DUMMY_HASH).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (MEMORY_KIB, ITERATIONS, PARALLELISM)
        );
    }

    #[test]
    fn policy_refuses_short_long_and_common_passwords() {
        let parse = |text: &str| NewPassword::parse(text.into()).map(|_| ());
        assert_eq!(parse("short"), Err(PasswordRejected::TooShort));
        assert_eq!(parse(&"x1".repeat(65)), Err(PasswordRejected::TooLong));
        assert_eq!(parse("Wachtwoord123"), Err(PasswordRejected::TooCommon));
        assert_eq!(parse("zzzzzzzzzzzzzz"), Err(PasswordRejected::TooCommon));
        assert_eq!(parse("a long and personal phrase"), Ok(()));
        // 64 characters must be allowed (SPEC §4: no upper bound below 64).
        assert_eq!(parse(&"abcdefgh".repeat(8)), Ok(()));
    }
}
