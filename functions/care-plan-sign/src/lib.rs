//! `POST /clients/{clientId}/care-plan/signatures`: the primary holder signs the current
//! care-plan version (Art 1.2, 2.3). The signature binds to that exact version and its content
//! hash; a stale or already signed version is a conflict, and exactly one of two signatures sent
//! at once gets through. The signature goes to the ECD through the outbox.

use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::audit::AuditAction;
use shared::auth::{Authenticator, ClientRequest};
use shared::aws::SdkConfig;
use shared::config::ConfigError;
use shared::dossier::{
    CarePlanSummary, DataCategory, EcdSubmission, OutboxEntry, Signature, SignatureRefusal,
};
use shared::http::{FunctionRouter, Routes, StrictJson};
use shared::problem::{ApiError, ApiResult};
use shared::store::{Permission, SignOutcome, Store};

#[derive(Clone, FromRef)]
pub struct SignState {
    pub store: Store,
    pub auth: Authenticator,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignRequest {
    version: u32,
    content_hash: String,
}

#[derive(Serialize)]
struct Signed {
    version: u32,
    content_hash: String,
    signature: Signature,
}

fn refused(refusal: SignatureRefusal, offered: u32) -> ApiError {
    match refusal {
        SignatureRefusal::NotCurrent { current } => {
            ApiError::CarePlanVersionNotCurrent { offered, current }
        }
        SignatureRefusal::AlreadySigned(_) => ApiError::CarePlanAlreadySigned,
        SignatureRefusal::HashMismatch => ApiError::ContentHashMismatch,
    }
}

async fn sign(
    State(store): State<Store>,
    request: ClientRequest,
    StrictJson(body): StrictJson<SignRequest>,
) -> ApiResult<(StatusCode, Json<Signed>)> {
    let actor = request.authorise(Some(Permission::SignCarePlan)).await?;
    // Only the primary holder signs (Art 2.3), whatever a grant might say.
    if !actor.relation.is_primary() {
        return Err(ApiError::PermissionMissing(Permission::SignCarePlan));
    }
    let current: CarePlanSummary = actor
        .client
        .care_plan
        .clone()
        .ok_or(ApiError::ResourceNotFound("a care plan for this client"))?;
    current
        .check_signature(body.version, &body.content_hash)
        .map_err(|refusal| refused(refusal, body.version))?;

    let now = shared::time::now();
    let signature = Signature {
        signed_at: now,
        signer: actor.account.id.clone(),
        signer_name: actor.account.display_name.clone(),
        relation: actor.relation,
    };
    let signed = CarePlanSummary {
        signature: Some(signature.clone()),
        ..current
    };
    let outbox = OutboxEntry::new(
        EcdSubmission::CarePlanSignature {
            client: actor.client.id.clone(),
            version: signed.version,
            content_hash: signed.content_hash.clone(),
            signature: signature.clone(),
            care_plan: signed.ecd_id.clone(),
        },
        now,
    );
    let audit = actor
        .audit(AuditAction::CarePlanSigned, DataCategory::CarePlan)
        .detail(format!("version {}", signed.version));
    match store
        .sign_care_plan(&actor.client.id, &signed, &outbox, &audit)
        .await?
    {
        SignOutcome::Signed => Ok((
            StatusCode::CREATED,
            Json(Signed {
                version: signed.version,
                content_hash: signed.content_hash,
                signature,
            }),
        )),
        SignOutcome::Refused(refusal) => Err(refused(refusal, body.version)),
    }
}

pub fn router(state: SignState) -> FunctionRouter {
    Routes::default()
        .post("/clients/{clientId}/care-plan/signatures", sign)
        .with_state(state)
}

pub fn from_env(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    let store = Store::from_env(sdk)?;
    Ok(router(SignState {
        auth: Authenticator::from_env(store.clone())?,
        store,
    }))
}
