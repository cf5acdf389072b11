//! Server-side sessions, so that logout, blocking and closure take effect on the next request.
//! A session lives in its account's partition, which lets the auth check read account, grants
//! and session in one query.

use aws_sdk_dynamodb::types::{Delete, DeleteRequest, TransactWriteItem, WriteRequest};
use serde::{Deserialize, Serialize};

use super::accounts::{SESSION_PREFIX, account_pk};
use super::audit::audit_write;
use super::{
    Epoch, Keyed, Store, StoreError, StoreResult, conditional, held, key, n, query_all, record, s,
};
use crate::audit::AuditEvent;
use crate::types::{AccountId, SessionId};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub account_id: AccountId,
    pub created_at: Epoch,
    pub last_refreshed_at: Epoch,
    /// The absolute end of the session, whatever happens.
    pub expires_at: Epoch,
    /// SHA-256 of the current refresh token's secret.
    pub refresh_hash: String,
    /// Hashes of refresh tokens already rotated away; presenting one again ends the session.
    #[serde(default)]
    pub used_refresh_hashes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
}

impl Session {
    /// Live until its absolute end, and as long as it was refreshed within the idle time-out.
    pub fn is_live(&self, now: Epoch, idle_timeout: Epoch) -> bool {
        now < self.expires_at && now < self.last_refreshed_at + idle_timeout
    }
}

pub(super) fn session_sk(id: &SessionId) -> String {
    format!("{SESSION_PREFIX}{id}")
}

pub(super) fn session_item(session: &Session) -> StoreResult<super::Item> {
    Keyed::new(
        account_pk(&session.account_id),
        session_sk(&session.id),
        session,
    )
    .expires(session.expires_at)
    .into_item()
}

#[derive(Debug)]
pub enum RotateOutcome {
    Rotated(Session),
    /// A refresh token that was already used: the session has been ended.
    Reused,
    /// Unknown, expired or idle session, or a token that never belonged to it.
    Invalid,
}

impl Store {
    pub async fn list_sessions(&self, account: &AccountId) -> StoreResult<Vec<Session>> {
        let query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :sessions)")
            .expression_attribute_values(":pk", s(account_pk(account)))
            .expression_attribute_values(":sessions", s(SESSION_PREFIX))
            .consistent_read(true);
        query_all(query).await?.into_iter().map(record).collect()
    }

    /// Ends one session and records why, in one transaction; `false` when the account has no
    /// such session (and nothing is written).
    pub async fn end_session(
        &self,
        account: &AccountId,
        id: &SessionId,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let delete = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key(account_pk(account), session_sk(id))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(super::accounts::build_error)?;
        let writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            audit_write(self.table(), audit)?,
        ];
        held(self.transact(writes).await)
    }

    /// Ends one session; `false` when the account has no such session.
    async fn delete_session(&self, account: &AccountId, id: &SessionId) -> StoreResult<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(account_pk(account), session_sk(id))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        held(conditional(result))
    }

    /// Ends every session of the account; returns how many there were.
    pub async fn delete_all_sessions(&self, account: &AccountId) -> StoreResult<usize> {
        let sessions = self.list_sessions(account).await?;
        let requests = sessions
            .iter()
            .map(|session| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key(account_pk(account), session_sk(&session.id))))
                    .build()
                    .map_err(super::accounts::build_error)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await?;
        Ok(sessions.len())
    }

    /// Swaps the session's refresh token for a new one if `presented_hash` is the current one and
    /// the session is live. A token that was rotated away before ends the session.
    pub async fn rotate_refresh(
        &self,
        account: &AccountId,
        id: &SessionId,
        presented_hash: &str,
        new_hash: &str,
        now: Epoch,
        idle_timeout: Epoch,
    ) -> StoreResult<RotateOutcome> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(account_pk(account), session_sk(id))))
            .condition_expression("refresh_hash = :presented AND expires_at > :now AND last_refreshed_at > :idle_cutoff")
            .update_expression("SET refresh_hash = :new, last_refreshed_at = :now, used_refresh_hashes = list_append(used_refresh_hashes, :used)")
            .expression_attribute_values(":presented", s(presented_hash))
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":idle_cutoff", n(now - idle_timeout))
            .expression_attribute_values(":used", aws_sdk_dynamodb::types::AttributeValue::L(vec![s(presented_hash)]))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match conditional(result) {
            Ok(output) => Ok(RotateOutcome::Rotated(record(
                output.attributes.unwrap_or_default(),
            )?)),
            Err(StoreError::ConditionFailed) => {
                let current: Option<Session> = self
                    .get_record(key(account_pk(account), session_sk(id)))
                    .await?;
                match current {
                    Some(session)
                        if session
                            .used_refresh_hashes
                            .iter()
                            .any(|used| used == presented_hash) =>
                    {
                        self.delete_session(account, id).await?;
                        Ok(RotateOutcome::Reused)
                    }
                    _ => Ok(RotateOutcome::Invalid),
                }
            }
            Err(err) => Err(err),
        }
    }
}
