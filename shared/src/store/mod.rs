//! DynamoDB storage: one table, keys built only here. Each submodule is the narrow interface for
//! one kind of item; the access patterns are listed in `docs/table-design.md`.
//!
//! Every item has `pk` and `sk`; items that need a second access path set `gsi1pk`/`gsi1sk`;
//! short-lived items set `ttl` (epoch seconds) so DynamoDB deletes them.

mod accounts;
mod audit;
mod login;
mod sessions;

pub use accounts::{
    Account, AccountContext, AccountStatus, Client, Grant, PasswordHash, Permission, Relation, Role,
};
pub use login::{Challenge, LoginFailures, SmsLimits};
pub use sessions::{RotateOutcome, Session};

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
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
    async fn transact(
        &self,
        writes: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> StoreResult<()> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
            .map_err(|err| match cancelled_conditions(&err) {
                Some(_) => StoreError::ConditionFailed,
                None => err.into(),
            })?;
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

/// Whether a failed transaction was cancelled because one of its conditions did not hold.
fn cancelled_conditions<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<()> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled))
            if cancelled
                .cancellation_reasons()
                .iter()
                .any(|reason| reason.code() == Some("ConditionalCheckFailed")) =>
        {
            Some(())
        }
        _ => None,
    }
}
