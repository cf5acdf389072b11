//! SMS codes: six digits from a CSPRNG, stored only as an HMAC keyed with a server-side pepper
//! and bound to the challenge they were sent for.

use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::types::{ChallengeId, OtpCode};

pub fn generate_code() -> SecretString {
    let code: u32 = rand::rng().random_range(0..1_000_000);
    format!("{code:06}").into()
}

#[derive(Clone)]
pub struct CodeHasher {
    pepper: SecretString,
}

impl CodeHasher {
    pub fn new(pepper: SecretString) -> Self {
        Self { pepper }
    }

    /// HMAC-SHA256 of the challenge id and the code, hex encoded.
    pub fn hash(&self, challenge: &ChallengeId, code: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.pepper.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(challenge.as_str().as_bytes());
        mac.update(b":");
        mac.update(code.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    pub fn matches(&self, challenge: &ChallengeId, code: &OtpCode, stored_hash: &str) -> bool {
        self.hash(challenge, code.as_str())
            .as_bytes()
            .ct_eq(stored_hash.as_bytes())
            .into()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let code = generate_code();
            assert!(OtpCode::parse(code.expose_secret()).is_ok());
        }
    }

    #[test]
    fn a_code_matches_only_its_own_challenge() {
        let hasher = CodeHasher::new("pepper".into());
        let (first, second) = (ChallengeId::generate(), ChallengeId::generate());
        let stored = hasher.hash(&first, "123456");
        let code = OtpCode::parse("123456").unwrap();
        assert!(hasher.matches(&first, &code, &stored));
        assert!(!hasher.matches(&second, &code, &stored));
        assert!(!hasher.matches(&first, &OtpCode::parse("123457").unwrap(), &stored));
        assert!(!stored.contains("123456"));
    }
}
