//! Reading a client's dossier (Art 1.2, 5.2 and the NEN 7513 access log): the overview, the care
//! plan and its versions, reports, the agenda, the access log and the export. Every answer says
//! when the data last came from the ECD, and every read leaves an entry in the access log.

mod export;

use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::audit::{AuditAction, AuditEvent, Outcome};
use shared::auth::{Authenticator, ClientActor, ClientRequest};
use shared::aws::SdkConfig;
use shared::config::{self, ConfigError};
use shared::dossier::{Appointment, CarePlanSummary, CarePlanVersion, DataCategory, Report};
use shared::http::{FunctionRouter, Routes, StrictQuery};
use shared::listing::{Period, decode_cursor, encode_cursor, page_size};
use shared::problem::{ApiError, ApiResult};
use shared::store::{Page, Permission, Relation, Role, Store};
use shared::time::rfc3339;
use shared::types::ClientId;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// How much the overview shows of each list.
const OVERVIEW_REPORTS: u16 = 3;
const OVERVIEW_APPOINTMENTS: i32 = 5;
const REPORTS_PAGE: (u16, u16) = (20, 50);
const ACCESS_LOG_PAGE: (u16, u16) = (50, 200);
/// Default and longest periods, in days.
const AGENDA_DAYS: (i64, i64) = (30, 93);
const ACCESS_LOG_DAYS: (i64, i64) = (30, 366);

#[derive(Clone, FromRef)]
pub struct DossierState {
    pub store: Store,
    pub auth: Authenticator,
    /// Shown as the organisation of staff and admins in the access log.
    pub organisation: Arc<str>,
}

#[derive(Serialize)]
struct ClientRef {
    id: ClientId,
    display_name: String,
}

/// What every dossier answer carries: whose dossier, and when it last came from the ECD.
#[derive(Serialize)]
struct Dossier<T> {
    client: ClientRef,
    #[serde(with = "rfc3339::option")]
    synced_at: Option<OffsetDateTime>,
    #[serde(flatten)]
    body: T,
}

fn dossier<T>(actor: &ClientActor, body: T) -> Json<Dossier<T>> {
    Json(Dossier {
        client: ClientRef {
            id: actor.client.id.clone(),
            display_name: actor.client.display_name.clone(),
        },
        synced_at: actor.client.synced_at,
        body,
    })
}

/// Logs the read before anything is shown: no entry, no data.
async fn logged(store: &Store, actor: &ClientActor, category: DataCategory) -> ApiResult<()> {
    Ok(store
        .record_read(&actor.audit(AuditAction::Viewed, category), None)
        .await?)
}

#[derive(Serialize)]
struct Unread {
    #[serde(skip_serializing_if = "Option::is_none")]
    reports: Option<u64>,
}

/// Sections the caller may not see are left out; a permitted but empty one is `null` or `[]`.
#[derive(Serialize)]
struct Overview {
    relation: Relation,
    permissions: Vec<Permission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    care_plan: Option<Option<CarePlanSummary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_reports: Option<Vec<Report>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_appointments: Option<Vec<Appointment>>,
    unread: Unread,
}

async fn overview(
    State(store): State<Store>,
    request: ClientRequest,
) -> ApiResult<Json<Dossier<Overview>>> {
    let client = request.client_id();
    let now = shared::time::now();
    // The lists are read alongside the access check; what the caller may not see is dropped.
    let (actor, reports, appointments) = tokio::join!(
        request.authorise(None),
        store.reports_page(client, None, OVERVIEW_REPORTS),
        store.appointments(
            client,
            now,
            now + Duration::days(366),
            Some(OVERVIEW_APPOINTMENTS)
        ),
    );
    let actor = actor?;
    let reports = actor
        .may(Permission::ReadReports)
        .then_some(reports)
        .transpose()?;
    let appointments = actor
        .may(Permission::Agenda)
        .then_some(appointments)
        .transpose()?;
    logged(&store, &actor, DataCategory::Overview).await?;
    let body = Overview {
        relation: actor.relation,
        permissions: actor.permissions.clone(),
        care_plan: actor
            .may(Permission::ReadCarePlan)
            .then(|| actor.client.care_plan.clone()),
        unread: Unread {
            reports: reports.as_ref().map(|_| actor.unread_reports()),
        },
        latest_reports: reports.map(|page| page.items),
        next_appointments: appointments,
    };
    Ok(dossier(&actor, body))
}

#[derive(Serialize)]
struct CurrentCarePlan {
    care_plan: CarePlanVersion,
    /// Whether the caller may sign this version now.
    signable: bool,
}

async fn care_plan(
    State(store): State<Store>,
    request: ClientRequest,
) -> ApiResult<Json<Dossier<CurrentCarePlan>>> {
    let (actor, plan) = tokio::join!(
        request.authorise(Some(Permission::ReadCarePlan)),
        store.current_care_plan(request.client_id()),
    );
    let actor = actor?;
    let plan = plan?.ok_or(ApiError::ResourceNotFound("a care plan for this client"))?;
    logged(&store, &actor, DataCategory::CarePlan).await?;
    let body = CurrentCarePlan {
        signable: actor.may(Permission::SignCarePlan) && plan.signature.is_none(),
        care_plan: plan,
    };
    Ok(dossier(&actor, body))
}

#[derive(Serialize)]
struct CarePlanHistory {
    versions: Vec<CarePlanVersion>,
}

async fn care_plan_versions(
    State(store): State<Store>,
    request: ClientRequest,
) -> ApiResult<Json<Dossier<CarePlanHistory>>> {
    let (actor, versions) = tokio::join!(
        request.authorise(Some(Permission::ReadCarePlan)),
        store.care_plan_versions(request.client_id()),
    );
    let actor = actor?;
    let versions = versions?;
    logged(&store, &actor, DataCategory::CarePlan).await?;
    Ok(dossier(&actor, CarePlanHistory { versions }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<u16>,
}

#[derive(Serialize)]
struct ReportList {
    reports: Vec<Report>,
    next_cursor: Option<String>,
    unread: u64,
}

async fn reports(
    State(store): State<Store>,
    StrictQuery(query): StrictQuery<PageQuery>,
    request: ClientRequest,
) -> ApiResult<Json<Dossier<ReportList>>> {
    let after = query
        .cursor
        .as_deref()
        .map(|cursor| decode_cursor(cursor, shared::store::REPORT_PREFIX))
        .transpose()?;
    let limit = page_size(query.limit, REPORTS_PAGE.0, REPORTS_PAGE.1)?;
    let (actor, page) = tokio::join!(
        request.authorise(Some(Permission::ReadReports)),
        store.reports_page(request.client_id(), after.as_deref(), limit),
    );
    let actor = actor?;
    let Page { items, last_key } = page?;
    let unread = actor.unread_reports();
    // The first page shows the newest reports: from now on they count as read.
    let seen = after.is_none().then_some((
        &actor.account.id,
        &actor.client.id,
        actor.client.report_count,
    ));
    store
        .record_read(
            &actor.audit(AuditAction::Viewed, DataCategory::Reports),
            seen,
        )
        .await?;
    let body = ReportList {
        reports: items,
        next_cursor: last_key.as_deref().map(encode_cursor),
        unread,
    };
    Ok(dossier(&actor, body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<u16>,
}

#[derive(Serialize)]
struct Agenda {
    #[serde(with = "rfc3339")]
    from: OffsetDateTime,
    #[serde(with = "rfc3339")]
    to: OffsetDateTime,
    appointments: Vec<Appointment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgendaQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn agenda(
    State(store): State<Store>,
    StrictQuery(query): StrictQuery<AgendaQuery>,
    request: ClientRequest,
) -> ApiResult<Json<Dossier<Agenda>>> {
    let period = Period::parse(
        query.from.as_deref(),
        query.to.as_deref(),
        shared::time::now(),
        AGENDA_DAYS.0,
        AGENDA_DAYS.1,
        true,
    )?;
    let (actor, appointments) = tokio::join!(
        request.authorise(Some(Permission::Agenda)),
        store.appointments(request.client_id(), period.from, period.to, None),
    );
    let actor = actor?;
    let appointments = appointments?;
    logged(&store, &actor, DataCategory::Agenda).await?;
    let body = Agenda {
        from: period.from,
        to: period.to,
        appointments,
    };
    Ok(dossier(&actor, body))
}

#[derive(Serialize)]
struct Who {
    name: Option<String>,
    role: Option<Role>,
    /// For staff and admins: the organisation they work for.
    #[serde(skip_serializing_if = "Option::is_none")]
    organisation: Option<String>,
}

/// One line of the access log as the client sees it.
#[derive(Serialize)]
struct AccessLogEntry {
    #[serde(with = "rfc3339")]
    at: OffsetDateTime,
    who: Who,
    /// Whose behalf the person acted on, when not their own (a representative or authorised
    /// user acting for the client).
    on_behalf_of: Option<String>,
    data: Option<String>,
    action: AuditAction,
    outcome: Outcome,
}

fn access_log_entry(event: AuditEvent, client_name: &str, organisation: &str) -> AccessLogEntry {
    let organisation = matches!(event.actor_role, Some(Role::Staff | Role::Admin))
        .then(|| organisation.to_owned());
    AccessLogEntry {
        at: OffsetDateTime::from_unix_timestamp(event.at).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        who: Who {
            name: event.actor_name,
            role: event.actor_role,
            organisation,
        },
        on_behalf_of: event.on_behalf_of.map(|_| client_name.to_owned()),
        data: event.data_category,
        action: event.action,
        outcome: event.outcome,
    }
}

#[derive(Serialize)]
struct AccessLog {
    #[serde(with = "rfc3339")]
    from: OffsetDateTime,
    #[serde(with = "rfc3339")]
    to: OffsetDateTime,
    entries: Vec<AccessLogEntry>,
    next_cursor: Option<String>,
}

async fn access_log(
    State(state): State<DossierState>,
    StrictQuery(query): StrictQuery<PeriodQuery>,
    request: ClientRequest,
) -> ApiResult<Json<Dossier<AccessLog>>> {
    let period = Period::parse(
        query.from.as_deref(),
        query.to.as_deref(),
        shared::time::now(),
        ACCESS_LOG_DAYS.0,
        ACCESS_LOG_DAYS.1,
        false,
    )?;
    let after = query
        .cursor
        .as_deref()
        .map(|cursor| decode_cursor(cursor, shared::store::EVENT_PREFIX))
        .transpose()?;
    let limit = page_size(query.limit, ACCESS_LOG_PAGE.0, ACCESS_LOG_PAGE.1)?;
    let (actor, page) = tokio::join!(
        request.authorise(Some(Permission::AccessLog)),
        state.store.client_audit_page(
            request.client_id(),
            (period.from, period.to),
            after.as_deref(),
            limit
        ),
    );
    let actor = actor?;
    let Page { items, last_key } = page?;
    logged(&state.store, &actor, DataCategory::AccessLog).await?;
    let body = AccessLog {
        from: period.from,
        to: period.to,
        entries: items
            .into_iter()
            .map(|event| access_log_entry(event, &actor.client.display_name, &state.organisation))
            .collect(),
        next_cursor: last_key.as_deref().map(encode_cursor),
    };
    Ok(dossier(&actor, body))
}

async fn export(
    State(state): State<DossierState>,
    headers: HeaderMap,
    request: ClientRequest,
) -> ApiResult<Response> {
    let (actor, items) = tokio::join!(
        request.authorise(Some(Permission::Export)),
        state.store.dossier_items(request.client_id()),
    );
    let actor = actor?;
    let items = items?;
    let access_log = if actor.may(Permission::AccessLog) {
        Some(state.store.client_audit(&actor.client.id).await?)
    } else {
        None
    };
    state
        .store
        .record_read(
            &actor.audit(AuditAction::Exported, DataCategory::Export),
            None,
        )
        .await?;
    let access_log = access_log.map(|events| {
        events
            .into_iter()
            .map(|event| access_log_entry(event, &actor.client.display_name, &state.organisation))
            .collect()
    });
    let document = export::Export {
        exported_at: shared::time::now(),
        care_plan_versions: actor
            .may(Permission::ReadCarePlan)
            .then_some(items.care_plans),
        reports: actor.may(Permission::ReadReports).then_some(items.reports),
        appointments: actor.may(Permission::Agenda).then_some(items.appointments),
        access_log,
    };
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| {
            accept
                .split(',')
                .any(|range| range.trim().starts_with("text/html"))
        });
    let document = dossier(&actor, document).0;
    Ok(if wants_html {
        export::html(&document.client, document.synced_at, &document.body).into_response()
    } else {
        export::json(&actor.client.id, document).into_response()
    })
}

pub fn router(state: DossierState) -> FunctionRouter {
    Routes::default()
        .get("/clients/{clientId}/overview", overview)
        .get("/clients/{clientId}/care-plan", care_plan)
        .get("/clients/{clientId}/care-plan/versions", care_plan_versions)
        .get("/clients/{clientId}/reports", reports)
        .get("/clients/{clientId}/agenda", agenda)
        .get("/clients/{clientId}/access-log", access_log)
        .get("/clients/{clientId}/export", export)
        .with_state(state)
}

pub fn from_env(sdk: &SdkConfig) -> Result<FunctionRouter, ConfigError> {
    let store = Store::from_env(sdk)?;
    Ok(router(DossierState {
        auth: Authenticator::from_env(store.clone())?,
        store,
        organisation: config::required("ORGANISATION_NAME")?.into(),
    }))
}
