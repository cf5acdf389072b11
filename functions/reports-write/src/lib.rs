//! `POST /clients/{clientId}/reports`: the primary holder, or an authorised user granted
//! `write_reports`, adds a plain-text report (Art 1.2). The report goes to the ECD through the
//! outbox; an `Idempotency-Key` makes a retried request create one report.

use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::audit::AuditAction;
use shared::auth::{Authenticator, ClientRequest};
use shared::aws::SdkConfig;
use shared::config::ConfigError;
use shared::dossier::{
    Author, DataCategory, EcdSubmission, OutboxEntry, Report, ReportSource, ReportText,
};
use shared::http::{FunctionRouter, Routes, StrictJson};
use shared::problem::{ApiError, ApiResult};
use shared::store::{Permission, Relation, ReportOutcome, Store};
use shared::types::{IdempotencyKey, ReportId};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on the answer to a repeated request, which returns the report the first one made.
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

#[derive(Clone, FromRef)]
pub struct ReportsState {
    pub store: Store,
    pub auth: Authenticator,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReport {
    text: ReportText,
}

fn author_role(relation: Relation) -> &'static str {
    match relation {
        Relation::ClientSelf => "client",
        Relation::Representative => "representative",
        Relation::AuthorisedUser => "authorised_user",
        Relation::CareTeam => "care_team",
    }
}

/// What makes two requests "the same" for an idempotency key: the client and the text.
fn request_hash(client: &str, text: &str) -> String {
    let digest = Sha256::new()
        .chain_update(client)
        .chain_update([0])
        .chain_update(text)
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

async fn write(
    State(store): State<Store>,
    headers: HeaderMap,
    request: ClientRequest,
    StrictJson(body): StrictJson<NewReport>,
) -> ApiResult<Response> {
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .ok_or(ApiError::IdempotencyKeyRequired)?;
    let key = IdempotencyKey::parse(key.to_str().unwrap_or(""))?;
    let actor = request.authorise(Some(Permission::WriteReports)).await?;
    let now = shared::time::now();
    let report = Report {
        id: ReportId::generate(),
        written_at: now,
        author: Author {
            name: actor.account.display_name.clone(),
            role: author_role(actor.relation).to_owned(),
        },
        text: body.text.as_str().to_owned(),
        source: ReportSource::Portal,
    };
    let outbox = OutboxEntry::new(
        EcdSubmission::Report {
            client: actor.client.id.clone(),
            report: report.clone(),
        },
        now,
    );
    let audit = actor
        .audit(AuditAction::ReportWritten, DataCategory::Reports)
        .detail(format!("report {}", report.id));
    let hash = request_hash(actor.client.id.as_str(), body.text.as_str());
    match store
        .add_portal_report(
            &actor.client.id,
            &report,
            (&actor.account.id, &key, &hash),
            &outbox,
            &audit,
        )
        .await?
    {
        ReportOutcome::Created => Ok((StatusCode::CREATED, Json(report)).into_response()),
        ReportOutcome::Replayed(earlier) => Ok((
            StatusCode::OK,
            [(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"))],
            Json(earlier),
        )
            .into_response()),
        ReportOutcome::KeyReused => Err(ApiError::IdempotencyKeyReused),
    }
}

pub fn router(state: ReportsState) -> FunctionRouter {
    Routes::default()
        .post("/clients/{clientId}/reports", write)
        .with_state(state)
}

pub fn from_env(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    let store = Store::from_env(sdk)?;
    Ok(router(ReportsState {
        auth: Authenticator::from_env(store.clone())?,
        store,
    }))
}
