//! What tests and the local stack need around the app: the DynamoDB table exactly as
//! `template.yaml` defines it, the routes the template declares, and what moto "sent".

pub mod ecd_fixtures;
pub mod fhir;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error("moto at {0}: {1}")]
    Moto(String, String),
    #[error("FHIR: {0}")]
    Fhir(String),
}

/// An HTTP client for tests. The workspace builds reqwest with rustls but without a crypto
/// provider of its own (the ECD client brings aws-lc-rs, as the SDK does), so one is installed
/// first.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

/// The workspace root, wherever the caller was built from.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

fn read_yaml(relative: &str) -> Result<serde_yaml::Value, KitError> {
    let path = workspace_root().join(relative);
    let text = std::fs::read_to_string(&path).map_err(|err| KitError::Read(path, err))?;
    serde_yaml::from_str(&text).map_err(|err| KitError::Template(err.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableProperties {
    attribute_definitions: Vec<AttributeSpec>,
    key_schema: Vec<KeySpec>,
    #[serde(default)]
    global_secondary_indexes: Vec<IndexSpec>,
    time_to_live_specification: Option<TtlSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeSpec {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeySpec {
    attribute_name: String,
    key_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexSpec {
    index_name: String,
    key_schema: Vec<KeySpec>,
    projection: ProjectionSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProjectionSpec {
    projection_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TtlSpec {
    attribute_name: String,
    enabled: bool,
}

fn table_properties() -> Result<TableProperties, KitError> {
    let template = read_yaml("template.yaml")?;
    let properties = template["Resources"]["PortalTable"]["Properties"].clone();
    serde_yaml::from_value(properties)
        .map_err(|err| KitError::Template(format!("PortalTable: {err}")))
}

fn keys(specs: &[KeySpec]) -> Result<Vec<KeySchemaElement>, KitError> {
    specs
        .iter()
        .map(|spec| {
            KeySchemaElement::builder()
                .attribute_name(&spec.attribute_name)
                .key_type(KeyType::from(spec.key_type.as_str()))
                .build()
                .map_err(|err| KitError::Template(err.to_string()))
        })
        .collect()
}

/// Creates `table` as `template.yaml` defines `PortalTable`; an existing table is left alone.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), KitError> {
    let spec = table_properties()?;
    let dynamo = |err: &dyn std::fmt::Display| KitError::Dynamo(err.to_string());
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(keys(&spec.key_schema)?));
    for attribute in &spec.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()
                .map_err(|err| dynamo(&err))?,
        );
    }
    for index in &spec.global_secondary_indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(keys(&index.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            index.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()
                .map_err(|err| dynamo(&err))?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(err) => return Err(dynamo(&aws_sdk_dynamodb::error::DisplayErrorContext(err))),
    }
    if let Some(ttl) = spec.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl.attribute_name)
                    .enabled(ttl.enabled)
                    .build()
                    .map_err(|err| dynamo(&err))?,
            )
            .send()
            .await
            .map_err(|err| dynamo(&aws_sdk_dynamodb::error::DisplayErrorContext(err)))?;
    }
    Ok(())
}

/// `METHOD /path` of every HttpApi event in `template.yaml`.
pub fn template_routes() -> Result<BTreeSet<String>, KitError> {
    let template = read_yaml("template.yaml")?;
    let resources = template["Resources"]
        .as_mapping()
        .ok_or_else(|| KitError::Template("no Resources".into()))?;
    let mut routes = BTreeSet::new();
    for resource in resources.values() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values().filter(|event| event["Type"] == "HttpApi") {
            let properties = &event["Properties"];
            let (Some(method), Some(path)) =
                (properties["Method"].as_str(), properties["Path"].as_str())
            else {
                return Err(KitError::Template(
                    "an HttpApi event without Method or Path".into(),
                ));
            };
            routes.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    Ok(routes)
}

/// `METHOD /path` of every operation in `infra/openapi.yaml`.
pub fn openapi_routes() -> Result<BTreeSet<String>, KitError> {
    let spec = read_yaml("infra/openapi.yaml")?;
    let paths = spec["paths"]
        .as_mapping()
        .ok_or_else(|| KitError::Template("openapi.yaml has no paths".into()))?;
    let mut routes = BTreeSet::new();
    for (path, operations) in paths {
        let path = path.as_str().unwrap_or_default();
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if !operations[method].is_null() {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    Ok(routes)
}

#[derive(Debug, Clone, Deserialize)]
pub struct SentSms {
    pub phone_number: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SentEmail {
    pub source: String,
    pub destinations: serde_json::Value,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Outbox {
    pub sms: Vec<SentSms>,
    pub email: Vec<SentEmail>,
}

/// Every SMS and e-mail moto has accepted since it started, oldest first.
pub async fn outbox(moto_endpoint: &str) -> Result<Outbox, KitError> {
    let url = format!("{}/moto-api/data.json", moto_endpoint.trim_end_matches('/'));
    let fail =
        |err: &dyn std::fmt::Display| KitError::Moto(moto_endpoint.to_owned(), err.to_string());
    let data: serde_json::Value = http()
        .get(&url)
        .send()
        .await
        .map_err(|err| fail(&err))?
        .json()
        .await
        .map_err(|err| fail(&err))?;
    let list = |value: &serde_json::Value| value.as_array().cloned().unwrap_or_default();
    let sms = list(&data["sns"]["SMS"])
        .into_iter()
        .filter_map(|entry| serde_json::from_value(entry).ok())
        .collect();
    let email = list(&data["ses"]["Message"])
        .into_iter()
        .filter_map(|entry| serde_json::from_value(entry).ok())
        .collect();
    Ok(Outbox { sms, email })
}

/// The six-digit code in the newest SMS moto sent to `phone`.
pub async fn latest_code(moto_endpoint: &str, phone: &str) -> Result<Option<String>, KitError> {
    let outbox = outbox(moto_endpoint).await?;
    Ok(outbox
        .sms
        .iter()
        .rev()
        .find(|sms| sms.phone_number == phone)
        .and_then(|sms| sms.message.split_whitespace().next())
        .map(str::to_owned))
}

/// The endpoint the SDK is pointed at through its standard variable.
pub fn moto_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: these tests talk to moto; run them with infra/test.sh",
    )
}
