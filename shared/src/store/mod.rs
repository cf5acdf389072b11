//! DynamoDB storage: one table, keys built only here. Each submodule is the narrow interface for
//! one kind of item; the access patterns are listed in `docs/table-design.md`.
//!
//! Every item has `pk` and `sk`; items that need a second access path set `gsi1pk`/`gsi1sk`;
//! short-lived items set `ttl` (epoch seconds) so DynamoDB deletes them.

mod accounts;
mod audit;
mod closure;
mod dossier;
mod jobs;
mod login;
mod sessions;
mod sync;

pub use accounts::{
    Account, AccountContext, AccountStatus, Client, Grant, PasswordHash, Permission, Relation, Role,
};
pub use audit::EVENT_PREFIX;
pub use closure::Due;
pub use dossier::{
    ClientAccessItems, DossierItems, Page, REPORT_PREFIX, ReportOutcome, SignOutcome,
};
pub use jobs::{JobLease, JobOutcome, SWEEP_JOB, SYNC_JOB, SyncPoints};
pub use login::{Challenge, LoginFailures, SmsLimits};
pub use sessions::{RotateOutcome, Session};
pub use sync::{ClientFacts, SyncBatch, SyncLookup};

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{self, ConfigError};
use crate::problem::ApiError;

pub type Item = HashMap<String, AttributeValue>;

/// Seconds since the Unix epoch: how every time is stored, so that conditions can compare them.
pub type Epoch = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a condition of the write did not hold")]
    ConditionFailed,
    #[error("DynamoDB request failed: {0}")]
    Request(String),
    #[error("item could not be (de)serialised: {0}")]
    Corrupt(#[from] serde_dynamo::Error),
}

impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn from(err: SdkError<E, R>) -> Self {
        StoreError::Request(DisplayErrorContext(err).to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "store failed");
        ApiError::DependencyFailed
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    client: DynamoClient,
    table: Arc<str>,
}

impl Store {
    pub fn new(client: DynamoClient, table: impl Into<Arc<str>>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn from_env(sdk: &crate::aws::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(
            DynamoClient::new(sdk),
            config::required("TABLE_NAME")?,
        ))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &DynamoClient {
        &self.client
    }

    /// Runs writes as one transaction; `ConditionFailed` if any of their conditions did not hold.
    /// A transaction that met another on the same items is tried again a few times.
    async fn transact(
        &self,
        writes: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> StoreResult<()> {
        for attempt in 0u32.. {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .send()
                .await;
            let Err(err) = result else {
                return Ok(());
            };
            match cancellation(&err) {
                Some(Cancellation::ConditionFailed) => return Err(StoreError::ConditionFailed),
                Some(Cancellation::Conflict) if attempt < 3 => {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
                _ => return Err(err.into()),
            }
        }
        unreachable!("the loop returns")
    }

    /// The record under `key`, read strongly consistently.
    async fn get_record<T: for<'de> Deserialize<'de>>(&self, key: Item) -> StoreResult<Option<T>> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await?;
        output.item.map(record).transpose()
    }

    /// The items under `keys` that exist, read strongly consistently, 100 keys per request,
    /// asking again for keys DynamoDB left unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let mut request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(true)
                .build()
                .map_err(accounts::build_error)?;
            for attempt in 0u32.. {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(self.table(), request)
                    .send()
                    .await?;
                found.extend(
                    output
                        .responses
                        .and_then(|mut tables| tables.remove(self.table()))
                        .unwrap_or_default(),
                );
                match output
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(self.table()))
                {
                    Some(left) if !left.keys().is_empty() => request = left,
                    _ => break,
                }
                if attempt == 8 {
                    return Err(StoreError::Request(
                        "a batch read kept being throttled".into(),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
            }
        }
        Ok(found)
    }

    /// Writes items in batches of 25, sending unprocessed ones again until none are left.
    async fn batch_write(
        &self,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> StoreResult<()> {
        for chunk in requests.chunks(BATCH_LIMIT) {
            let mut pending = chunk.to_vec();
            for attempt in 0u32.. {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(self.table(), pending)
                    .send()
                    .await?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut left| left.remove(self.table()))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == 8 {
                    return Err(StoreError::Request(
                        "a batch write kept being throttled".into(),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
        }
        Ok(())
    }
}

/// An item as stored: its keys next to the fields of the record it holds.
#[derive(Serialize, Deserialize)]
struct Keyed<T> {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<Epoch>,
    #[serde(flatten)]
    record: T,
}

impl<T: Serialize> Keyed<T> {
    fn new(pk: String, sk: impl Into<String>, record: T) -> Self {
        Self {
            pk,
            sk: sk.into(),
            gsi1pk: None,
            gsi1sk: None,
            ttl: None,
            record,
        }
    }

    fn gsi1(mut self, pk: String, sk: impl Into<String>) -> Self {
        self.gsi1pk = Some(pk);
        self.gsi1sk = Some(sk.into());
        self
    }

    fn expires(mut self, at: Epoch) -> Self {
        self.ttl = Some(at);
        self
    }

    fn into_item(self) -> StoreResult<Item> {
        Ok(serde_dynamo::to_item(self)?)
    }
}

fn record<T: for<'de> Deserialize<'de>>(item: Item) -> StoreResult<T> {
    let keyed: Keyed<T> = serde_dynamo::from_item(item)?;
    Ok(keyed.record)
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.into())),
    ])
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Every item a query matches, following its pages.
async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> StoreResult<Vec<Item>> {
    Ok(query
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await?)
}

/// DynamoDB takes at most 25 writes per batch.
const BATCH_LIMIT: usize = 25;
/// DynamoDB reads at most 100 keys per batch.
const BATCH_GET_LIMIT: usize = 100;

enum Cancellation {
    /// One of the transaction's conditions did not hold.
    ConditionFailed,
    /// Another transaction was writing the same items at that moment.
    Conflict,
}

/// A single-item write's result, with `ConditionFailed` when its condition did not hold.
fn conditional<O, E, R>(result: Result<O, SdkError<E, R>>) -> StoreResult<O>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    result.map_err(
        |err| match err.as_service_error().and_then(ProvideErrorMetadata::code) {
            Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
            _ => err.into(),
        },
    )
}

/// Whether a conditional write went through: `false` when its condition did not hold.
fn held<O>(result: StoreResult<O>) -> StoreResult<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Why a transaction was cancelled, if it was.
fn cancellation<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Cancellation> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return None;
    };
    let reasons = cancelled.cancellation_reasons();
    if reasons
        .iter()
        .any(|reason| reason.code() == Some("ConditionalCheckFailed"))
    {
        Some(Cancellation::ConditionFailed)
    } else if reasons
        .iter()
        .any(|reason| reason.code() == Some("TransactionConflict"))
    {
        Some(Cancellation::Conflict)
    } else {
        None
    }
}
