//! The organisation's electronic client dossier (ECD), the source of truth, over its real
//! protocol: FHIR R4 in JSON over HTTP(S). The sync reads what changed since its checkpoint with
//! `_lastUpdated` searches and follows the server's `next` links; the outbox delivers what the
//! portal owes the ECD with conditional creates, so that a delivery repeated after a lost answer
//! creates nothing twice.
//!
//! Only the part of each resource the portal shows is read; anything else is ignored, and a
//! resource the portal cannot use is skipped with a reason rather than failing the sync.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::config::{self, ConfigError};
use crate::dossier::{
    Appointment, Author, CarePlanContent, CarePlanVersion, EcdSubmission, OutboxEntry, PlanItem,
    Report, ReportSource,
};
use crate::types::{ClientId, ReportId};

/// The kinds of resource the sync reads, in the order it reads them: the client first, so that a
/// death or end of care is known before their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Patient,
    EpisodeOfCare,
    CarePlan,
    Observation,
    Appointment,
}

impl ResourceType {
    pub const SYNCED: [ResourceType; 5] = [
        ResourceType::Patient,
        ResourceType::EpisodeOfCare,
        ResourceType::CarePlan,
        ResourceType::Observation,
        ResourceType::Appointment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Patient => "Patient",
            ResourceType::EpisodeOfCare => "EpisodeOfCare",
            ResourceType::CarePlan => "CarePlan",
            ResourceType::Observation => "Observation",
            ResourceType::Appointment => "Appointment",
        }
    }
}

/// LOINC "Progress note": the observations that are care reports (rapportages).
pub const REPORT_CODE: (&str, &str) = ("http://loinc.org", "11506-3");
/// Identifies what the portal created in the ECD, so the sync does not bring it back as new.
pub const PORTAL_REPORT_SYSTEM: &str = "urn:oktober:portal:report";
/// The performer's discipline on a report, as an extension of the performer reference.
pub const PERFORMER_ROLE_URL: &str = "https://oktober.nl/fhir/StructureDefinition/performer-role";
/// The ECD's largest page; fewer, larger pages mean fewer requests per item.
const PAGE_SIZE: u32 = 200;

#[derive(Debug, thiserror::Error)]
pub enum EcdError {
    /// The ECD could not be reached or answered 5xx/429: worth trying again later.
    #[error("the ECD is unavailable: {0}")]
    Unavailable(String),
    /// The ECD refused the request (4xx): trying again unchanged will not help.
    #[error("the ECD refused the request: {status}: {detail}")]
    Refused { status: u16, detail: String },
    /// The answer was not the FHIR the request asked for.
    #[error("the ECD answered something unexpected: {0}")]
    Unexpected(String),
}

impl EcdError {
    pub fn is_transient(&self) -> bool {
        matches!(self, EcdError::Unavailable(_))
    }
}

#[derive(Clone)]
pub struct EcdClient {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
}

/// One page of a `_lastUpdated` search: its resources in the server's order, and where the next
/// page is.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub resources: Vec<Value>,
    pub next: Option<String>,
}

impl EcdClient {
    /// `base` is the FHIR base URL, e.g. `https://ecd.example.org/fhir`.
    pub fn new(
        base: impl Into<String>,
        token: Option<SecretString>,
        timeout: std::time::Duration,
    ) -> Self {
        // reqwest's rustls has no provider of its own here: use aws-lc-rs, which the SDK uses too.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("client-portal/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client with a timeout and TLS roots always builds");
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// `ECD_BASE_URL`, the optional bearer token `ECD_ACCESS_TOKEN` and `ECD_TIMEOUT_SECONDS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let base = config::required("ECD_BASE_URL")?;
        let token = config::secret("ECD_ACCESS_TOKEN").ok();
        let timeout = config::parsed_or("ECD_TIMEOUT_SECONDS", 20u64)?;
        Ok(Self::new(
            base,
            token,
            std::time::Duration::from_secs(timeout),
        ))
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The first page of resources of `kind` changed at or after `since` (all of them without),
    /// oldest change first.
    pub async fn changed_since(
        &self,
        kind: ResourceType,
        since: Option<OffsetDateTime>,
    ) -> Result<SearchPage, EcdError> {
        let mut query = vec![
            ("_sort".to_owned(), "_lastUpdated".to_owned()),
            ("_count".to_owned(), PAGE_SIZE.to_string()),
        ];
        if let Some(since) = since {
            let instant = since
                .format(&Rfc3339)
                .map_err(|err| EcdError::Unexpected(err.to_string()))?;
            query.push(("_lastUpdated".to_owned(), format!("ge{instant}")));
        }
        let request = self
            .http
            .get(format!("{}/{}", self.base, kind.as_str()))
            .query(&query);
        self.search(request).await
    }

    /// The page a `next` link of an earlier page points at.
    pub async fn next_page(&self, url: &str) -> Result<SearchPage, EcdError> {
        self.search(self.http.get(url)).await
    }

    async fn search(&self, request: reqwest::RequestBuilder) -> Result<SearchPage, EcdError> {
        let bundle: Value = self.send(request).await?.1;
        if bundle["resourceType"] != "Bundle" {
            return Err(EcdError::Unexpected(
                "a search did not answer a Bundle".into(),
            ));
        }
        let resources = bundle["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|entry| entry.get("resource").cloned())
                    .collect()
            })
            .unwrap_or_default();
        let next = bundle["link"].as_array().and_then(|links| {
            links
                .iter()
                .find(|link| link["relation"] == "next")
                .and_then(|link| link["url"].as_str())
                .map(str::to_owned)
        });
        Ok(SearchPage { resources, next })
    }

    /// Delivers one outbox entry. Created now or before: both are success.
    pub async fn submit(&self, entry: &OutboxEntry) -> Result<(), EcdError> {
        let (kind, resource, condition) = submission_resource(&entry.submission);
        let mut request = self
            .http
            .post(format!("{}/{kind}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/fhir+json")
            .json(&resource);
        if let Some(condition) = condition {
            request = request.header("If-None-Exist", condition);
        }
        self.send(request).await.map(|_| ())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value), EcdError> {
        let mut request = request.header(reqwest::header::ACCEPT, "application/fhir+json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        let response = request
            .send()
            .await
            .map_err(|err| EcdError::Unavailable(without_url(err)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| EcdError::Unavailable(without_url(err)))?;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(EcdError::Unavailable(format!("status {status}")));
        }
        let json: Value = serde_json::from_slice(&body)
            .map_err(|err| EcdError::Unexpected(format!("status {status}, not JSON: {err}")))?;
        if !status.is_success() {
            return Err(EcdError::Refused {
                status: status.as_u16(),
                detail: outcome_text(&json),
            });
        }
        Ok((status.as_u16(), json))
    }
}

/// A transport error without the request's URL, which may carry a client id.
fn without_url(err: reqwest::Error) -> String {
    err.without_url().to_string()
}

/// The diagnostics of an OperationOutcome, for logs.
fn outcome_text(outcome: &Value) -> String {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|issue| issue["diagnostics"].as_str().or(issue["code"].as_str()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The FHIR resource for a submission, its type, and the `If-None-Exist` condition that makes
/// creating it idempotent.
fn submission_resource(submission: &EcdSubmission) -> (&'static str, Value, Option<String>) {
    match submission {
        EcdSubmission::Report { client, report } => {
            let written_at = report.written_at.format(&Rfc3339).unwrap_or_default();
            let resource = json!({
                "resourceType": "Observation",
                "identifier": [{ "system": PORTAL_REPORT_SYSTEM, "value": report.id.as_str() }],
                "status": "final",
                "code": { "coding": [{ "system": REPORT_CODE.0, "code": REPORT_CODE.1, "display": "Progress note" }] },
                "subject": { "reference": format!("Patient/{client}") },
                "effectiveDateTime": written_at,
                "issued": written_at,
                "performer": [{
                    "display": report.author.name,
                    "extension": [{ "url": PERFORMER_ROLE_URL, "valueString": report.author.role }],
                }],
                "valueString": report.text,
            });
            let condition = format!("identifier={PORTAL_REPORT_SYSTEM}|{}", report.id);
            ("Observation", resource, Some(condition))
        }
        EcdSubmission::CarePlanSignature {
            client,
            version,
            content_hash,
            signature,
            care_plan,
        } => {
            let signed_at = signature.signed_at.format(&Rfc3339).unwrap_or_default();
            let target = match care_plan {
                Some(id) => json!({ "reference": format!("CarePlan/{id}/_history/{version}") }),
                None => json!({ "display": format!("Zorgleefplan versie {version}") }),
            };
            let resource = json!({
                "resourceType": "Provenance",
                "target": [target],
                "recorded": signed_at,
                "activity": { "text": "signed in the client portal" },
                "agent": [{
                    "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author" }] },
                    "who": { "display": signature.signer_name },
                    "onBehalfOf": { "reference": format!("Patient/{client}") },
                }],
                "signature": [{
                    "type": [{ "system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.7", "display": "Consent Signature" }],
                    "when": signed_at,
                    "who": { "display": signature.signer_name },
                    "sigFormat": "text/plain",
                    "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, content_hash),
                }],
            });
            // One signature per care-plan version: a second delivery finds the first.
            let condition = care_plan
                .as_ref()
                .map(|id| format!("target=CarePlan/{id}/_history/{version}"));
            ("Provenance", resource, condition)
        }
    }
}

/// What one changed ECD resource means for the portal.
#[derive(Debug, Clone, PartialEq)]
pub enum EcdChange {
    /// The client's name, and their date of death if they died.
    Client {
        client: ClientId,
        name: Option<String>,
        deceased_on: Option<Date>,
    },
    /// The client's episode of care, and the day it ended if it did.
    CareEpisode {
        client: ClientId,
        ended_on: Option<Date>,
    },
    CarePlan {
        client: ClientId,
        version: CarePlanVersion,
    },
    /// A report; `None` when the ECD marked it entered in error.
    Report {
        client: ClientId,
        /// The ECD's id of the observation, which stays when the ECD edits it.
        ecd_id: String,
        report: Option<Report>,
    },
    /// An appointment; `None` when it was cancelled or entered in error.
    Appointment {
        client: ClientId,
        ecd_id: String,
        appointment: Option<Appointment>,
    },
}

impl EcdChange {
    pub fn client(&self) -> &ClientId {
        match self {
            EcdChange::Client { client, .. }
            | EcdChange::CareEpisode { client, .. }
            | EcdChange::CarePlan { client, .. }
            | EcdChange::Report { client, .. }
            | EcdChange::Appointment { client, .. } => client,
        }
    }
}

/// Why a resource was left alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skipped {
    #[error("not a resource the portal shows")]
    NotShown,
    #[error("it came from the portal")]
    FromPortal,
    #[error("{0}")]
    Unusable(String),
}

fn unusable(reason: impl Into<String>) -> Skipped {
    Skipped::Unusable(reason.into())
}

#[derive(Deserialize)]
struct Reference {
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    display: Option<String>,
    #[serde(default)]
    extension: Vec<Extension>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Extension {
    url: String,
    #[serde(default)]
    value_string: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct Identifier {
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct HumanName {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    given: Vec<String>,
}

#[derive(Deserialize)]
struct Period {
    #[serde(default)]
    end: Option<String>,
}

#[derive(Deserialize)]
struct Text {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Annotation {
    #[serde(default)]
    text: Option<String>,
}

impl HumanName {
    fn full(&self) -> Option<String> {
        self.text.clone().or_else(|| {
            let mut parts = self.given.clone();
            parts.extend(self.family.clone());
            (!parts.is_empty()).then(|| parts.join(" "))
        })
    }
}

/// The client a reference like `Patient/C-1001` points at.
fn patient(reference: Option<&Reference>) -> Result<ClientId, Skipped> {
    let id = reference
        .and_then(|r| r.reference.as_deref())
        .and_then(|r| r.strip_prefix("Patient/"))
        .ok_or_else(|| unusable("no Patient reference"))?;
    ClientId::parse(id).map_err(|_| unusable("the Patient id is not a client id"))
}

/// An RFC 3339 instant, or a date-time without seconds' fraction as FHIR allows.
fn instant(raw: Option<&str>, field: &str) -> Result<OffsetDateTime, Skipped> {
    raw.and_then(|raw| OffsetDateTime::parse(raw, &Rfc3339).ok())
        .ok_or_else(|| unusable(format!("{field} is missing or not a date-time")))
}

/// The day of a FHIR date or date-time (`2026-11-14` or `2026-11-14T06:30:00+01:00`), as
/// written, in the ECD's own time zone.
fn day(raw: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw.get(..10)?, &format).ok()
}

/// When a resource last changed, by its `meta.lastUpdated`.
pub fn last_updated(resource: &Value) -> Option<OffsetDateTime> {
    resource["meta"]["lastUpdated"]
        .as_str()
        .and_then(|raw| OffsetDateTime::parse(raw, &Rfc3339).ok())
}

/// Reads one resource of the sync's kinds.
pub fn interpret(resource: &Value) -> Result<EcdChange, Skipped> {
    match resource["resourceType"].as_str() {
        Some("Patient") => interpret_patient(resource),
        Some("EpisodeOfCare") => interpret_episode(resource),
        Some("CarePlan") => interpret_care_plan(resource),
        Some("Observation") => interpret_observation(resource),
        Some("Appointment") => interpret_appointment(resource),
        _ => Err(Skipped::NotShown),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(resource: &Value) -> Result<T, Skipped> {
    T::deserialize(resource).map_err(|err| unusable(err.to_string()))
}

fn interpret_patient(resource: &Value) -> Result<EcdChange, Skipped> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Patient {
        id: String,
        #[serde(default)]
        name: Vec<HumanName>,
        #[serde(default)]
        deceased_date_time: Option<String>,
    }
    let patient: Patient = parse(resource)?;
    let client =
        ClientId::parse(&patient.id).map_err(|_| unusable("the Patient id is not a client id"))?;
    Ok(EcdChange::Client {
        client,
        name: patient.name.first().and_then(HumanName::full),
        deceased_on: patient.deceased_date_time.as_deref().and_then(day),
    })
}

fn interpret_episode(resource: &Value) -> Result<EcdChange, Skipped> {
    #[derive(Deserialize)]
    struct Episode {
        status: String,
        patient: Option<Reference>,
        #[serde(default)]
        period: Option<Period>,
    }
    let episode: Episode = parse(resource)?;
    let client = patient(episode.patient.as_ref())?;
    let ended_on = match episode.status.as_str() {
        "finished" | "cancelled" => episode
            .period
            .and_then(|period| period.end)
            .as_deref()
            .and_then(day),
        _ => None,
    };
    Ok(EcdChange::CareEpisode { client, ended_on })
}

fn interpret_care_plan(resource: &Value) -> Result<EcdChange, Skipped> {
    #[derive(Deserialize)]
    struct CarePlan {
        id: String,
        meta: Meta,
        status: String,
        subject: Option<Reference>,
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        contained: Vec<Value>,
        #[serde(default)]
        goal: Vec<Reference>,
        #[serde(default)]
        activity: Vec<Activity>,
    }
    #[derive(Deserialize)]
    struct Activity {
        #[serde(default)]
        detail: Option<Detail>,
    }
    #[derive(Deserialize)]
    struct Detail {
        #[serde(default)]
        code: Option<Text>,
        #[serde(default)]
        description: Option<String>,
    }
    #[derive(Deserialize)]
    struct Goal {
        id: String,
        description: Text,
        #[serde(default)]
        note: Vec<Annotation>,
    }
    let plan: CarePlan = parse(resource)?;
    if !matches!(plan.status.as_str(), "active" | "completed") {
        return Err(Skipped::NotShown);
    }
    let client = patient(plan.subject.as_ref())?;
    let version: u32 = plan
        .meta
        .version_id
        .as_deref()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| unusable("meta.versionId is not a positive number"))?;
    let published_at = instant(plan.meta.last_updated.as_deref(), "meta.lastUpdated")?;
    let contained: Vec<Goal> = plan
        .contained
        .iter()
        .filter(|r| r["resourceType"] == "Goal")
        .filter_map(|r| Goal::deserialize(r).ok())
        .collect();
    let goals = plan
        .goal
        .iter()
        .filter_map(|reference| reference.reference.as_deref()?.strip_prefix('#'))
        .filter_map(|id| contained.iter().find(|goal| goal.id == id))
        .filter_map(|goal| {
            Some(PlanItem {
                title: goal.description.text.clone()?,
                description: joined(goal.note.iter().filter_map(|n| n.text.as_deref())),
            })
        })
        .collect();
    let agreements = plan
        .activity
        .iter()
        .filter_map(|activity| activity.detail.as_ref())
        .filter_map(|detail| {
            Some(PlanItem {
                title: detail.code.as_ref()?.text.clone()?,
                description: detail.description.clone().unwrap_or_default(),
            })
        })
        .collect();
    let content = CarePlanContent {
        title: plan.title.unwrap_or_else(|| "Zorgleefplan".to_owned()),
        goals,
        agreements,
    };
    let mut version = CarePlanVersion::new(version, published_at, content);
    version.ecd_id = Some(plan.id);
    Ok(EcdChange::CarePlan { client, version })
}

fn joined<'a>(texts: impl Iterator<Item = &'a str>) -> String {
    texts.collect::<Vec<_>>().join("\n")
}

fn interpret_observation(resource: &Value) -> Result<EcdChange, Skipped> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Observation {
        id: String,
        status: String,
        subject: Option<Reference>,
        #[serde(default)]
        identifier: Vec<Identifier>,
        #[serde(default)]
        effective_date_time: Option<String>,
        #[serde(default)]
        performer: Vec<Reference>,
        #[serde(default)]
        value_string: Option<String>,
    }
    let is_report = resource["code"]["coding"]
        .as_array()
        .is_some_and(|codings| {
            codings
                .iter()
                .any(|c| c["system"] == REPORT_CODE.0 && c["code"] == REPORT_CODE.1)
        });
    if !is_report {
        return Err(Skipped::NotShown);
    }
    let observation: Observation = parse(resource)?;
    if observation
        .identifier
        .iter()
        .any(|id| id.system.as_deref() == Some(PORTAL_REPORT_SYSTEM) && id.value.is_some())
    {
        return Err(Skipped::FromPortal);
    }
    let client = patient(observation.subject.as_ref())?;
    match observation.status.as_str() {
        "final" | "amended" | "corrected" => {}
        "entered-in-error" => {
            return Ok(EcdChange::Report {
                client,
                ecd_id: observation.id,
                report: None,
            });
        }
        _ => return Err(Skipped::NotShown),
    }
    let written_at = instant(
        observation.effective_date_time.as_deref(),
        "effectiveDateTime",
    )?;
    let text = observation
        .value_string
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| unusable("no valueString"))?;
    let performer = observation.performer.first();
    let author = Author {
        name: performer
            .and_then(|p| p.display.clone())
            .unwrap_or_else(|| "Zorgteam".to_owned()),
        role: performer
            .and_then(|p| {
                p.extension
                    .iter()
                    .find(|e| e.url == PERFORMER_ROLE_URL)
                    .and_then(|e| e.value_string.clone())
            })
            .unwrap_or_else(|| "zorgmedewerker".to_owned()),
    };
    let report = Report {
        id: ReportId::from_ecd(written_at, &observation.id),
        written_at,
        author,
        text,
        source: ReportSource::Ecd,
    };
    Ok(EcdChange::Report {
        client,
        ecd_id: observation.id,
        report: Some(report),
    })
}

fn interpret_appointment(resource: &Value) -> Result<EcdChange, Skipped> {
    #[derive(Deserialize)]
    struct Appt {
        id: String,
        status: String,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        start: Option<String>,
        #[serde(default)]
        end: Option<String>,
        #[serde(default)]
        participant: Vec<Participant>,
    }
    #[derive(Deserialize)]
    struct Participant {
        #[serde(default)]
        actor: Option<Reference>,
    }
    let appt: Appt = parse(resource)?;
    let actors: Vec<&Reference> = appt
        .participant
        .iter()
        .filter_map(|p| p.actor.as_ref())
        .collect();
    let client = patient(actors.iter().copied().find(|a| {
        a.reference
            .as_deref()
            .is_some_and(|r| r.starts_with("Patient/"))
    }))?;
    let display_of = |prefixes: &[&str]| {
        actors
            .iter()
            .find(|a| {
                a.reference
                    .as_deref()
                    .is_some_and(|r| prefixes.iter().any(|p| r.starts_with(p)))
            })
            .and_then(|a| a.display.clone())
    };
    let appointment = match appt.status.as_str() {
        "cancelled" | "noshow" | "entered-in-error" => None,
        _ => Some(Appointment {
            id: appt.id.clone(),
            starts_at: instant(appt.start.as_deref(), "start")?,
            ends_at: instant(appt.end.as_deref(), "end")?,
            title: appt.description.unwrap_or_else(|| "Afspraak".to_owned()),
            location: display_of(&["Location/"]),
            with: display_of(&["Practitioner/", "PractitionerRole/", "CareTeam/"]),
        }),
    };
    Ok(EcdChange::Appointment {
        client,
        ecd_id: appt.id,
        appointment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(status: &str) -> Value {
        json!({
            "resourceType": "Observation",
            "id": "obs-1",
            "status": status,
            "code": { "coding": [{ "system": "http://loinc.org", "code": "11506-3" }] },
            "subject": { "reference": "Patient/C-1001" },
            "effectiveDateTime": "2026-11-28T14:05:00+01:00",
            "performer": [{
                "display": "Fleur Visser",
                "extension": [{ "url": PERFORMER_ROLE_URL, "valueString": "verzorgende IG" }],
            }],
            "valueString": "Goed geslapen.",
        })
    }

    #[test]
    fn a_progress_note_is_a_report_and_one_entered_in_error_withdraws_it() {
        let Ok(EcdChange::Report {
            report: Some(report),
            ecd_id,
            ..
        }) = interpret(&observation("final"))
        else {
            panic!("a final progress note is a report");
        };
        assert_eq!(ecd_id, "obs-1");
        assert_eq!(report.author.role, "verzorgende IG");
        assert_eq!(report.text, "Goed geslapen.");
        assert_eq!(
            report.id,
            ReportId::from_ecd(report.written_at, "obs-1"),
            "the same observation always gets the same id"
        );
        assert!(matches!(
            interpret(&observation("entered-in-error")),
            Ok(EcdChange::Report { report: None, .. })
        ));
        assert_eq!(
            interpret(&observation("preliminary")),
            Err(Skipped::NotShown)
        );
        let mut heart_rate = observation("final");
        heart_rate["code"]["coding"][0]["code"] = "8867-4".into();
        assert_eq!(interpret(&heart_rate), Err(Skipped::NotShown));
        let mut from_portal = observation("final");
        from_portal["identifier"] = json!([{ "system": PORTAL_REPORT_SYSTEM, "value": "01J" }]);
        assert_eq!(interpret(&from_portal), Err(Skipped::FromPortal));
    }

    #[test]
    fn a_care_plan_version_is_its_resource_version_with_its_goals_and_agreements() {
        let plan = json!({
            "resourceType": "CarePlan",
            "id": "cp-C-1002",
            "meta": { "versionId": "2", "lastUpdated": "2026-11-20T09:00:00Z" },
            "status": "active",
            "subject": { "reference": "Patient/C-1002" },
            "title": "Zorgleefplan",
            "contained": [{ "resourceType": "Goal", "id": "g1", "description": { "text": "Zelf aankleden" }, "note": [{ "text": "met hulp bij knopen" }] }],
            "goal": [{ "reference": "#g1" }],
            "activity": [{ "detail": { "code": { "text": "Douchen" }, "description": "dinsdag" } }],
        });
        let Ok(EcdChange::CarePlan { client, version }) = interpret(&plan) else {
            panic!("an active care plan is read");
        };
        assert_eq!(client.as_str(), "C-1002");
        assert_eq!(version.version, 2);
        assert_eq!(version.ecd_id.as_deref(), Some("cp-C-1002"));
        assert_eq!(version.content.goals[0].title, "Zelf aankleden");
        assert_eq!(version.content.goals[0].description, "met hulp bij knopen");
        assert_eq!(version.content.agreements[0].title, "Douchen");
        let mut unversioned = plan.clone();
        unversioned["meta"]["versionId"] = "x".into();
        assert!(matches!(interpret(&unversioned), Err(Skipped::Unusable(_))));
    }

    #[test]
    fn death_and_end_of_care_are_read_as_days() {
        let patient = json!({ "resourceType": "Patient", "id": "C-1003", "name": [{ "given": ["Gerrit"], "family": "Smit" }], "deceasedDateTime": "2026-11-14T06:30:00+01:00" });
        assert_eq!(
            interpret(&patient),
            Ok(EcdChange::Client {
                client: ClientId::parse("C-1003").unwrap(),
                name: Some("Gerrit Smit".into()),
                deceased_on: Some(time::macros::date!(2026 - 11 - 14)),
            })
        );
        let episode = json!({ "resourceType": "EpisodeOfCare", "id": "e", "status": "finished", "patient": { "reference": "Patient/C-1003" }, "period": { "end": "2026-11-14" } });
        assert_eq!(
            interpret(&episode),
            Ok(EcdChange::CareEpisode {
                client: ClientId::parse("C-1003").unwrap(),
                ended_on: Some(time::macros::date!(2026 - 11 - 14)),
            })
        );
    }
}
