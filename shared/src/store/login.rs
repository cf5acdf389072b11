//! The short-lived items of a login: failed-password counters, SMS send windows and the SMS-code
//! challenge that ends in a session.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::accounts::{account_pk, build_error, put};
use super::audit::audit_write;
use super::sessions::session_item;
use super::{
    Epoch, Keyed, Session, Store, StoreError, StoreResult, conditional, key, n, record, s,
};
use crate::audit::AuditEvent;
use crate::types::{AccountId, ChallengeId, PhoneNumber, Username};

const WINDOW_SECONDS: Epoch = 3600;

fn failures_pk(username: &Username) -> String {
    format!("LOGINFAIL#{username}")
}
fn challenge_pk(id: &ChallengeId) -> String {
    format!("CHALLENGE#{id}")
}
const CHALLENGE: &str = "CHALLENGE";
const COUNTER: &str = "COUNTER";

/// Failed passwords for a username, whether or not an account has it, so that lockout looks the
/// same for unknown users. Forgotten an hour after the last failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoginFailures {
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub locked_until: Option<Epoch>,
}

/// An SMS code waiting to be typed in: only its keyed hash is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Challenge {
    pub id: ChallengeId,
    pub account_id: AccountId,
    pub code_hash: String,
    pub expires_at: Epoch,
    #[serde(default)]
    pub attempts: u32,
}

/// How many login SMS one account, and one number, may receive per hour.
#[derive(Debug, Clone, Copy)]
pub struct SmsLimits {
    pub per_account_per_hour: u32,
    pub per_number_per_hour: u32,
}

/// The two hourly counters a login SMS counts against.
fn sms_counters(account: &AccountId, phone: &PhoneNumber, now: Epoch) -> [(String, String); 2] {
    let window = format!("WINDOW#{}", now / WINDOW_SECONDS);
    [
        (format!("SMSCOUNT#ACCOUNT#{account}"), window.clone()),
        (format!("SMSCOUNT#PHONE#{phone}"), window),
    ]
}

impl Store {
    pub async fn login_failures(
        &self,
        username: &Username,
        now: Epoch,
    ) -> StoreResult<LoginFailures> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(failures_pk(username), COUNTER)))
            .consistent_read(true)
            .send()
            .await?;
        let Some(item) = output.item else {
            return Ok(LoginFailures::default());
        };
        // DynamoDB deletes expired items only eventually; an expired counter counts for nothing.
        let keyed: Keyed<LoginFailures> = serde_dynamo::from_item(item)?;
        Ok(match keyed.ttl {
            Some(ttl) if ttl <= now => LoginFailures::default(),
            _ => keyed.record,
        })
    }

    /// Counts one more failed password and, if `lock_until` says so for the new count, locks.
    pub async fn record_login_failure(
        &self,
        username: &Username,
        now: Epoch,
        lock_until: impl Fn(u32) -> Option<Epoch>,
    ) -> StoreResult<LoginFailures> {
        let counted = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(failures_pk(username), COUNTER)))
            .condition_expression("attribute_not_exists(#ttl) OR #ttl > :now")
            .update_expression("ADD failures :one SET #ttl = :ttl")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":ttl", n(now + WINDOW_SECONDS))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let mut failures: LoginFailures = match conditional(counted) {
            Ok(output) => record(output.attributes.unwrap_or_default())?,
            // An expired counter DynamoDB has not deleted yet: counting starts over.
            Err(StoreError::ConditionFailed) => {
                let fresh = LoginFailures {
                    failures: 1,
                    locked_until: None,
                };
                self.client
                    .put_item()
                    .table_name(self.table())
                    .set_item(Some(
                        Keyed::new(failures_pk(username), COUNTER, &fresh)
                            .expires(now + WINDOW_SECONDS)
                            .into_item()?,
                    ))
                    .send()
                    .await?;
                fresh
            }
            Err(err) => return Err(err),
        };
        if let Some(until) = lock_until(failures.failures) {
            self.client
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(failures_pk(username), COUNTER)))
                .update_expression("SET locked_until = :until, #ttl = :ttl")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":until", n(until))
                .expression_attribute_values(":ttl", n(until.max(now) + WINDOW_SECONDS))
                .send()
                .await?;
            failures.locked_until = Some(until);
        }
        Ok(failures)
    }

    pub async fn clear_login_failures(&self, username: &Username) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(failures_pk(username), COUNTER)))
            .send()
            .await?;
        Ok(())
    }

    /// Stores a challenge and counts its SMS against the account's and the number's hourly
    /// limits, all or nothing. `ConditionFailed` means a limit is reached.
    pub async fn open_challenge(
        &self,
        challenge: &Challenge,
        phone: &PhoneNumber,
        limits: SmsLimits,
        now: Epoch,
    ) -> StoreResult<()> {
        let [account_counter, phone_counter] = sms_counters(&challenge.account_id, phone, now);
        let writes = vec![
            self.count_sms(account_counter, 1, Some(limits.per_account_per_hour), now)?,
            self.count_sms(phone_counter, 1, Some(limits.per_number_per_hour), now)?,
            put(
                self.table(),
                Keyed::new(challenge_pk(&challenge.id), CHALLENGE, challenge)
                    .expires(challenge.expires_at)
                    .into_item()?,
            ),
        ];
        self.transact(writes).await
    }

    /// Undoes [`Store::open_challenge`] when the SMS could not be sent: the challenge goes, and
    /// the unsent SMS no longer counts.
    pub async fn abandon_challenge(
        &self,
        challenge: &Challenge,
        phone: &PhoneNumber,
        now: Epoch,
    ) -> StoreResult<()> {
        let [account_counter, phone_counter] = sms_counters(&challenge.account_id, phone, now);
        let delete = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key(challenge_pk(&challenge.id), CHALLENGE)))
            .build()
            .map_err(build_error)?;
        let writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.count_sms(account_counter, -1, None, now)?,
            self.count_sms(phone_counter, -1, None, now)?,
        ];
        self.transact(writes).await
    }

    fn count_sms(
        &self,
        (pk, sk): (String, String),
        by: i32,
        limit: Option<u32>,
        now: Epoch,
    ) -> StoreResult<TransactWriteItem> {
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(pk, sk)))
            .update_expression("ADD sent :by SET #ttl = :ttl")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":by", n(by))
            .expression_attribute_values(":ttl", n(now + 2 * WINDOW_SECONDS));
        if let Some(limit) = limit {
            update = update
                .condition_expression("attribute_not_exists(sent) OR sent < :limit")
                .expression_attribute_values(":limit", n(limit));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    pub async fn get_challenge(&self, id: &ChallengeId) -> StoreResult<Option<Challenge>> {
        self.get_record(key(challenge_pk(id), CHALLENGE)).await
    }

    /// Counts a wrong code. Returns the attempts made so far, or `None` when the challenge is gone
    /// or already had its last try. The challenge is deleted once no tries are left.
    pub async fn record_wrong_code(
        &self,
        id: &ChallengeId,
        max_attempts: u32,
    ) -> StoreResult<Option<u32>> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(challenge_pk(id), CHALLENGE)))
            .condition_expression("attribute_exists(pk) AND attempts < :max")
            .update_expression("ADD attempts :one")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max_attempts))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let challenge: Challenge = match conditional(result) {
            Ok(output) => record(output.attributes.unwrap_or_default())?,
            Err(StoreError::ConditionFailed) => return Ok(None),
            Err(err) => return Err(err),
        };
        if challenge.attempts >= max_attempts {
            self.client
                .delete_item()
                .table_name(self.table())
                .set_key(Some(key(challenge_pk(id), CHALLENGE)))
                .send()
                .await?;
        }
        Ok(Some(challenge.attempts))
    }

    /// Consumes the challenge, starts the session and records the login in one transaction: a
    /// challenge is used at most once, even by two requests at the same moment, and only an
    /// active account gets a session. `ConditionFailed` when any of that does not hold.
    pub async fn complete_login(
        &self,
        challenge: &Challenge,
        max_attempts: u32,
        session: &Session,
        audit: &[AuditEvent],
    ) -> StoreResult<()> {
        let consume = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key(challenge_pk(&challenge.id), CHALLENGE)))
            .condition_expression("attribute_exists(pk) AND attempts < :max")
            .expression_attribute_values(":max", n(max_attempts))
            .build()
            .map_err(build_error)?;
        let account_active = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(account_pk(&challenge.account_id), "PROFILE")))
            .condition_expression("#status = :active")
            .update_expression("SET last_login_at = :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":now", n(session.created_at))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![
            TransactWriteItem::builder().delete(consume).build(),
            put(self.table(), session_item(session)?),
            TransactWriteItem::builder().update(account_active).build(),
        ];
        for event in audit {
            writes.push(audit_write(self.table(), event)?);
        }
        self.transact(writes).await
    }
}
