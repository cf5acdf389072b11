//! Access tokens (EdDSA-signed JWTs, short-lived) and refresh tokens (opaque, rotated, stored
//! only as a hash). Only the login path holds a [`TokenSigner`]; everything else verifies with
//! the public key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::otp::hex;
use crate::config::{self, ConfigError};
use crate::store::Epoch;
use crate::types::{AccountId, SessionId};

/// The longest an access token may live (SPEC §4).
pub const MAX_ACCESS_TOKEN_SECONDS: i64 = 15 * 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: AccountId,
    pub sid: SessionId,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

fn issuer() -> String {
    config::or_default("JWT_ISSUER", "client-portal")
}
fn audience() -> String {
    config::or_default("JWT_AUDIENCE", "client-portal-api")
}

#[derive(Clone)]
pub struct TokenSigner {
    key: EncodingKey,
    issuer: String,
    audience: String,
    ttl_seconds: i64,
}

impl TokenSigner {
    /// `pkcs8_der` is the Ed25519 private key in PKCS#8 DER form.
    pub fn new(
        pkcs8_der: &[u8],
        issuer: String,
        audience: String,
        ttl_seconds: i64,
    ) -> Result<Self, ConfigError> {
        if !(1..=MAX_ACCESS_TOKEN_SECONDS).contains(&ttl_seconds) {
            return Err(ConfigError::Invalid {
                name: "ACCESS_TOKEN_SECONDS",
                reason: format!("must be between 1 and {MAX_ACCESS_TOKEN_SECONDS}"),
            });
        }
        aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8_der).map_err(|_| {
            ConfigError::Invalid {
                name: "JWT_SIGNING_KEY",
                reason: "is not an Ed25519 PKCS#8 key".into(),
            }
        })?;
        Ok(Self {
            key: EncodingKey::from_ed_der(pkcs8_der),
            issuer,
            audience,
            ttl_seconds,
        })
    }

    /// From `JWT_SIGNING_KEY` (base64 of the PKCS#8 DER key) and `ACCESS_TOKEN_SECONDS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let encoded = config::secret("JWT_SIGNING_KEY")?;
        let der = STANDARD
            .decode(encoded.expose_secret().trim())
            .map_err(|_| ConfigError::Invalid {
                name: "JWT_SIGNING_KEY",
                reason: "is not base64".into(),
            })?;
        Self::new(
            &der,
            issuer(),
            audience(),
            config::parsed_or("ACCESS_TOKEN_SECONDS", 600)?,
        )
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    pub fn issue(&self, account: &AccountId, session: &SessionId, now: Epoch) -> SecretString {
        let claims = AccessClaims {
            sub: account.clone(),
            sid: session.clone(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl_seconds,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)
            .expect("signing with a validated Ed25519 key cannot fail")
            .into()
    }
}

#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    /// `public_key` is the raw 32-byte Ed25519 public key, base64url encoded (a JWK's `x`).
    pub fn new(public_key: &str, issuer: &str, audience: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::Invalid {
            name: "JWT_PUBLIC_KEY",
            reason: "must be the base64url of a 32-byte Ed25519 public key".into(),
        };
        let raw = URL_SAFE_NO_PAD
            .decode(public_key.trim().trim_end_matches('='))
            .map_err(|_| invalid())?;
        if raw.len() != 32 {
            return Err(invalid());
        }
        // Only EdDSA: a token that names another algorithm, or `none`, is refused.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            key: DecodingKey::from_ed_der(&raw),
            validation,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(&config::required("JWT_PUBLIC_KEY")?, &issuer(), &audience())
    }

    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.key, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// A fresh Ed25519 key pair: (base64 PKCS#8 private key, base64url public key). For local
/// stacks and tests; deployments bring their own key from the secret store.
pub fn generate_key_pair() -> (SecretString, String) {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
        .expect("the system random source works");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("a freshly made key parses");
    (
        STANDARD.encode(pkcs8.as_ref()).into(),
        URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    )
}

/// A refresh token as handed out: `<account>.<session>.<secret>`. Only the secret's SHA-256 is
/// stored; the ids say where to look.
pub struct RefreshToken {
    pub account: AccountId,
    pub session: SessionId,
    secret: SecretString,
}

impl RefreshToken {
    pub fn generate(account: &AccountId, session: &SessionId) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self {
            account: account.clone(),
            session: session.clone(),
            secret: URL_SAFE_NO_PAD.encode(bytes).into(),
        }
    }

    pub fn parse(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let account = AccountId::parse(parts.next()?).ok()?;
        let session = SessionId::parse(parts.next()?).ok()?;
        let secret = parts.next()?;
        if parts.next().is_some() || secret.len() != 43 {
            return None;
        }
        Some(Self {
            account,
            session,
            secret: secret.to_owned().into(),
        })
    }

    pub fn hash(&self) -> String {
        hex(&Sha256::digest(self.secret.expose_secret().as_bytes()))
    }

    pub fn expose(&self) -> String {
        format!(
            "{}.{}.{}",
            self.account,
            self.session,
            self.secret.expose_secret()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (TokenSigner, TokenVerifier) {
        let (private, public) = generate_key_pair();
        let der = STANDARD.decode(private.expose_secret()).unwrap();
        (
            TokenSigner::new(&der, "iss".into(), "aud".into(), 600).unwrap(),
            TokenVerifier::new(&public, "iss", "aud").unwrap(),
        )
    }

    fn now() -> Epoch {
        crate::time::now().unix_timestamp()
    }

    #[test]
    fn issued_tokens_verify_and_carry_account_and_session() {
        let (signer, verifier) = pair();
        let (account, session) = (AccountId::generate(), SessionId::generate());
        let token = signer.issue(&account, &session, now());
        let claims = verifier.verify(token.expose_secret()).unwrap();
        assert_eq!((claims.sub, claims.sid), (account, session));
    }

    #[test]
    fn expired_forged_foreign_and_unsigned_tokens_are_refused() {
        let (signer, verifier) = pair();
        let (other_signer, _) = pair();
        let (account, session) = (AccountId::generate(), SessionId::generate());
        let expired = signer.issue(&account, &session, now() - 3600);
        assert!(verifier.verify(expired.expose_secret()).is_none());
        let foreign = other_signer.issue(&account, &session, now());
        assert!(verifier.verify(foreign.expose_secret()).is_none());

        let good = signer.issue(&account, &session, now());
        let mut parts: Vec<String> = good.expose_secret().split('.').map(str::to_owned).collect();
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            verifier
                .verify(&format!("{none_header}.{}.", parts[1]))
                .is_none()
        );
        let hs_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        assert!(
            verifier
                .verify(&format!("{hs_header}.{}.{}", parts[1], parts[2]))
                .is_none()
        );
        // A payload changed after signing.
        let claims = format!(
            r#"{{"sub":"{}","sid":"{session}","iss":"iss","aud":"aud","iat":0,"exp":9999999999}}"#,
            AccountId::generate()
        );
        parts[1] = URL_SAFE_NO_PAD.encode(claims);
        assert!(verifier.verify(&parts.join(".")).is_none());
    }

    #[test]
    fn access_tokens_live_at_most_fifteen_minutes() {
        let (private, _) = generate_key_pair();
        let der = STANDARD.decode(private.expose_secret()).unwrap();
        assert!(TokenSigner::new(&der, "i".into(), "a".into(), 16 * 60).is_err());
    }

    #[test]
    fn refresh_tokens_round_trip_and_store_only_a_hash() {
        let token = RefreshToken::generate(&AccountId::generate(), &SessionId::generate());
        let parsed = RefreshToken::parse(&token.expose()).unwrap();
        assert_eq!(parsed.hash(), token.hash());
        assert!(!token.expose().contains(&token.hash()));
        assert!(RefreshToken::parse("a.b.c").is_none());
        assert!(RefreshToken::parse(&format!("{}.x", token.expose())).is_none());
    }
}
