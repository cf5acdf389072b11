//! The two-step login (Art 2.4): a password opens a challenge and sends an SMS code; the code
//! turns the challenge into a session. Also the refresh of a session's tokens.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::otp::{self, CodeHasher};
use super::password;
use super::tokens::{RefreshToken, TokenSigner};
use crate::audit::{AuditAction, AuditEvent, Origin, Outcome};
use crate::config::{self, ConfigError};
use crate::notify::SmsSender;
use crate::problem::{ApiError, ApiResult};
use crate::store::{
    Account, Challenge, Epoch, RotateOutcome, Session, SmsLimits, Store, StoreError,
};
use crate::types::{ChallengeId, OtpCode, SessionId, Username};

/// The rules of a login, all configurable per organisation.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    pub code_ttl_seconds: Epoch,
    pub code_max_attempts: u32,
    pub lockout_threshold: u32,
    pub lockout_base_seconds: Epoch,
    pub lockout_max_seconds: Epoch,
    pub sms_limits: SmsLimits,
    pub session_absolute_seconds: Epoch,
    pub session_idle_seconds: Epoch,
    pub terms_version: String,
}

impl LoginSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let settings = Self {
            code_ttl_seconds: config::parsed_or("CODE_TTL_SECONDS", 300)?,
            code_max_attempts: config::parsed_or("CODE_MAX_ATTEMPTS", 5)?,
            lockout_threshold: config::parsed_or("LOCKOUT_THRESHOLD", 5)?,
            lockout_base_seconds: config::parsed_or("LOCKOUT_BASE_SECONDS", 60)?,
            lockout_max_seconds: config::parsed_or("LOCKOUT_MAX_SECONDS", 3600)?,
            sms_limits: SmsLimits {
                per_account_per_hour: config::parsed_or("SMS_LIMIT_PER_ACCOUNT_PER_HOUR", 5)?,
                per_number_per_hour: config::parsed_or("SMS_LIMIT_PER_NUMBER_PER_HOUR", 8)?,
            },
            session_absolute_seconds: config::parsed_or("SESSION_ABSOLUTE_SECONDS", 12 * 3600)?,
            session_idle_seconds: config::parsed_or(
                "SESSION_IDLE_SECONDS",
                super::actor::DEFAULT_IDLE_SECONDS,
            )?,
            terms_version: config::required("TERMS_VERSION")?,
        };
        // SPEC §4: a code lives at most five minutes and allows at most five tries.
        if !(1..=300).contains(&settings.code_ttl_seconds)
            || !(1..=5).contains(&settings.code_max_attempts)
        {
            return Err(ConfigError::Invalid {
                name: "CODE_TTL_SECONDS",
                reason: "codes live 1 to 300 seconds and allow 1 to 5 attempts".into(),
            });
        }
        Ok(settings)
    }

    /// Progressive lockout: from the threshold on, each failure locks for twice as long.
    fn lock_until(&self, failures: u32, now: Epoch) -> Option<Epoch> {
        let beyond = failures.checked_sub(self.lockout_threshold)?;
        let seconds = self
            .lockout_base_seconds
            .saturating_mul(1i64 << beyond.min(20))
            .min(self.lockout_max_seconds);
        Some(now + seconds)
    }
}

#[derive(Debug, Serialize)]
pub struct ChallengeStarted {
    pub challenge_id: ChallengeId,
    #[serde(with = "crate::time::rfc3339")]
    pub expires_at: time::OffsetDateTime,
    pub phone_hint: String,
}

#[derive(Serialize)]
pub struct IssuedTokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub session_id: SessionId,
    pub terms_acceptance_required: bool,
}

impl IssuedTokens {
    fn new(
        signer: &TokenSigner,
        account: &Account,
        session: SessionId,
        refresh: &RefreshToken,
        settings: &LoginSettings,
        now: Epoch,
    ) -> Self {
        Self {
            access_token: signer
                .issue(&account.id, &session, now)
                .expose_secret()
                .to_owned(),
            token_type: "Bearer",
            expires_in: signer.ttl_seconds(),
            refresh_token: refresh.expose(),
            session_id: session,
            terms_acceptance_required: account.terms_version.as_deref()
                != Some(settings.terms_version.as_str()),
        }
    }
}

fn epoch_now() -> Epoch {
    crate::time::now().unix_timestamp()
}

fn timestamp(epoch: Epoch) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(epoch).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Step one: the password.
#[derive(Clone)]
pub struct PasswordStep {
    pub store: Store,
    pub sms: SmsSender,
    pub codes: CodeHasher,
    pub settings: LoginSettings,
}

impl PasswordStep {
    pub async fn run(
        &self,
        username: &Username,
        password: SecretString,
        origin: &Origin,
    ) -> ApiResult<ChallengeStarted> {
        let now = epoch_now();
        let event = |action, outcome| AuditEvent::new(action, outcome, now, origin);
        let (failures, account) = tokio::try_join!(
            self.store.login_failures(username, now),
            self.store.find_account_by_username(username),
        )?;
        let subject = |event: AuditEvent| match &account {
            Some(account) => event.actor(&account.id).role(account.role),
            None => event.attempted_username(username),
        };
        if let Some(until) = failures.locked_until.filter(|until| *until > now) {
            self.store
                .append_audit(
                    &subject(event(AuditAction::LoginFailed, Outcome::Failure)).detail("locked"),
                )
                .await?;
            return Err(ApiError::LoginLocked {
                retry_after_seconds: (until - now) as u64,
            });
        }

        let matches =
            password::verify(password, account.as_ref().map(|a| a.password_hash.clone())).await;
        let Some(account) = account.as_ref().filter(|_| matches) else {
            let failures = self
                .store
                .record_login_failure(username, now, |count| self.settings.lock_until(count, now))
                .await?;
            self.store
                .append_audit(&subject(event(AuditAction::LoginFailed, Outcome::Failure)))
                .await?;
            if let Some(until) = failures.locked_until {
                self.store
                    .append_audit(
                        &subject(event(AuditAction::LoginLockedOut, Outcome::Failure))
                            .detail(format!("seconds={}", until - now)),
                    )
                    .await?;
            }
            return Err(ApiError::InvalidCredentials);
        };

        if !account.can_log_in() {
            let status = serde_json::to_value(account.status).unwrap_or_default();
            self.store
                .append_audit(
                    &subject(event(AuditAction::LoginRefused, Outcome::Failure))
                        .detail(format!("status={}", status.as_str().unwrap_or_default())),
                )
                .await?;
            return Err(ApiError::AccountUnavailable);
        }
        if failures.failures > 0 {
            self.store.clear_login_failures(username).await?;
        }

        let code = otp::generate_code();
        let challenge_id = ChallengeId::generate();
        let challenge = Challenge {
            code_hash: self.codes.hash(&challenge_id, code.expose_secret()),
            id: challenge_id,
            account_id: account.id.clone(),
            expires_at: now + self.settings.code_ttl_seconds,
            attempts: 0,
        };
        match self
            .store
            .open_challenge(&challenge, &account.phone, self.settings.sms_limits, now)
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => {
                self.store
                    .append_audit(&subject(event(
                        AuditAction::SmsLimitReached,
                        Outcome::Failure,
                    )))
                    .await?;
                return Err(ApiError::SmsLimitReached);
            }
            Err(err) => return Err(err.into()),
        }
        let valid_minutes = (self.settings.code_ttl_seconds + 59) / 60;
        if let Err(err) = self
            .sms
            .send_login_code(&account.phone, code.expose_secret(), valid_minutes)
            .await
        {
            tracing::warn!(error = %err, "login SMS failed");
            self.store
                .abandon_challenge(&challenge, &account.phone, now)
                .await?;
            self.store
                .append_audit(&subject(event(AuditAction::SmsFailed, Outcome::Failure)))
                .await?;
            return Err(ApiError::SmsUnavailable);
        }
        self.store
            .append_audit(&subject(event(AuditAction::SmsSent, Outcome::Success)))
            .await?;
        Ok(ChallengeStarted {
            challenge_id: challenge.id,
            expires_at: timestamp(challenge.expires_at),
            phone_hint: account.phone.masked(),
        })
    }
}

/// Step two: the SMS code, which starts the session.
#[derive(Clone)]
pub struct CodeStep {
    pub store: Store,
    pub codes: CodeHasher,
    pub signer: TokenSigner,
    pub settings: LoginSettings,
}

impl CodeStep {
    pub async fn run(
        &self,
        challenge_id: &ChallengeId,
        code: &OtpCode,
        origin: &Origin,
    ) -> ApiResult<IssuedTokens> {
        let now = epoch_now();
        let max = self.settings.code_max_attempts;
        let challenge = self
            .store
            .get_challenge(challenge_id)
            .await?
            .filter(|challenge| challenge.expires_at > now && challenge.attempts < max)
            .ok_or(ApiError::ChallengeInvalid)?;
        let event = |action, outcome| {
            AuditEvent::new(action, outcome, now, origin).actor(&challenge.account_id)
        };

        if !self.codes.matches(challenge_id, code, &challenge.code_hash) {
            let attempts = self
                .store
                .record_wrong_code(challenge_id, max)
                .await?
                .ok_or(ApiError::ChallengeInvalid)?;
            self.store
                .append_audit(&event(AuditAction::CodeRejected, Outcome::Failure))
                .await?;
            if attempts >= max {
                self.store
                    .append_audit(&event(AuditAction::ChallengeExhausted, Outcome::Failure))
                    .await?;
            }
            return Err(ApiError::CodeIncorrect {
                remaining_attempts: max.saturating_sub(attempts),
            });
        }

        let account = self
            .store
            .get_account(&challenge.account_id)
            .await?
            .filter(|account| account.can_log_in())
            .ok_or(ApiError::AccountUnavailable)?;
        let session_id = SessionId::generate();
        let refresh = RefreshToken::generate(&account.id, &session_id);
        let session = Session {
            id: session_id,
            account_id: account.id.clone(),
            created_at: now,
            last_refreshed_at: now,
            expires_at: now + self.settings.session_absolute_seconds,
            refresh_hash: refresh.hash(),
            used_refresh_hashes: Vec::new(),
            user_agent: origin.user_agent.clone(),
            source_ip: origin.source_ip.clone(),
        };
        let terms_current =
            account.terms_version.as_deref() == Some(self.settings.terms_version.as_str());
        let in_session = |action| {
            event(action, Outcome::Success)
                .role(account.role)
                .session(&session.id)
        };
        let mut audit = vec![
            in_session(AuditAction::LoginSucceeded)
                .detail(format!("terms_version={}", self.settings.terms_version)),
        ];
        // Art 1.4: every login is agreement to the terms in force, for whoever has accepted them.
        if terms_current {
            audit.push(
                in_session(AuditAction::TermsAgreed)
                    .detail(format!("version={}", self.settings.terms_version)),
            );
        }
        match self
            .store
            .complete_login(&challenge, max, &session, &audit)
            .await
        {
            Ok(()) => {}
            // Used a moment ago by another request, or the account was blocked meanwhile.
            Err(StoreError::ConditionFailed) => return Err(ApiError::ChallengeInvalid),
            Err(err) => return Err(err.into()),
        }
        Ok(IssuedTokens::new(
            &self.signer,
            &account,
            session.id,
            &refresh,
            &self.settings,
            now,
        ))
    }
}

/// A new access token and a new refresh token for a live session; the old refresh token stops
/// working, and using it again ends the session.
#[derive(Clone)]
pub struct RefreshStep {
    pub store: Store,
    pub signer: TokenSigner,
    pub settings: LoginSettings,
}

impl RefreshStep {
    pub async fn run(&self, presented: &str, origin: &Origin) -> ApiResult<IssuedTokens> {
        let now = epoch_now();
        let token = RefreshToken::parse(presented).ok_or(ApiError::RefreshInvalid)?;
        let account = self
            .store
            .get_account(&token.account)
            .await?
            .filter(|account| account.can_log_in())
            .ok_or(ApiError::RefreshInvalid)?;
        let next = RefreshToken::generate(&account.id, &token.session);
        let outcome = self
            .store
            .rotate_refresh(
                &account.id,
                &token.session,
                &token.hash(),
                &next.hash(),
                now,
                self.settings.session_idle_seconds,
            )
            .await?;
        match outcome {
            RotateOutcome::Rotated(session) => Ok(IssuedTokens::new(
                &self.signer,
                &account,
                session.id,
                &next,
                &self.settings,
                now,
            )),
            RotateOutcome::Reused => {
                self.store
                    .append_audit(
                        &AuditEvent::new(
                            AuditAction::RefreshTokenReused,
                            Outcome::Failure,
                            now,
                            origin,
                        )
                        .actor(&account.id)
                        .role(account.role)
                        .session(&token.session),
                    )
                    .await?;
                Err(ApiError::RefreshInvalid)
            }
            RotateOutcome::Invalid => Err(ApiError::RefreshInvalid),
        }
    }
}
