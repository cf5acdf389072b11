//! The download of a client's dossier (Art 5.2): machine-readable JSON, or an HTML page made for
//! printing. Only what the caller may see is in it.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::{DOCTYPE, Markup, html};
use serde::Serialize;
use sha2::{Digest, Sha256};
use shared::dossier::{Appointment, CarePlanVersion, Report};
use shared::time::rfc3339;
use shared::types::ClientId;
use std::sync::LazyLock;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AccessLogEntry, ClientRef, Dossier};

#[derive(Serialize)]
pub(crate) struct Export {
    #[serde(with = "rfc3339")]
    pub exported_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub care_plan_versions: Option<Vec<CarePlanVersion>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reports: Option<Vec<Report>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointments: Option<Vec<Appointment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log: Option<Vec<AccessLogEntry>>,
}

fn file_name(client: &ClientId, at: OffsetDateTime, extension: &str) -> HeaderValue {
    let date = at.date();
    // Client ids are letters, digits and dashes, so the value is always a valid header.
    HeaderValue::from_str(&format!(
        "attachment; filename=\"dossier-{client}-{date}.{extension}\""
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

pub(crate) fn json(client: &ClientId, document: Dossier<Export>) -> Response {
    let disposition = file_name(client, document.body.exported_at, "json");
    let mut response = Json(document).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, disposition);
    response
}

const STYLE: &str = "body{font-family:sans-serif;max-width:48rem;margin:2rem auto;line-height:1.4}\
table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;padding:.25rem;text-align:left;vertical-align:top}\
section{page-break-inside:avoid;margin-top:2rem}.text{white-space:pre-wrap}";

/// The page's one inline style is allowed by its hash; nothing else may load or run.
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors 'none'"
    ))
    .expect("base64 is a valid header value")
});

fn action_name(action: shared::audit::AuditAction) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn moment(at: &OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

pub(crate) fn html(
    client: &ClientRef,
    synced_at: Option<OffsetDateTime>,
    export: &Export,
) -> Response {
    let page: Markup = html! {
        (DOCTYPE)
        html lang="nl" {
            head {
                meta charset="utf-8";
                title { "Dossier " (client.display_name) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { "Dossier van " (client.display_name) }
                p {
                    "Cliëntnummer " (client.id) ". Gedownload op " (moment(&export.exported_at)) ". "
                    @match synced_at {
                        Some(at) => { "Laatst bijgewerkt uit het ECD op " (moment(&at)) "." }
                        None => { "Nog niet bijgewerkt uit het ECD." }
                    }
                }
                @if let Some(versions) = &export.care_plan_versions {
                    section {
                        h2 { "Zorgleefplan" }
                        @if versions.is_empty() { p { "Er is nog geen zorgleefplan." } }
                        @for version in versions {
                            h3 { "Versie " (version.version) ": " (version.content.title) }
                            p {
                                "Gepubliceerd op " (moment(&version.published_at)) ". "
                                @match &version.signature {
                                    Some(signature) => {
                                        "Ondertekend door " (signature.signer_name)
                                        " op " (moment(&signature.signed_at)) "."
                                    }
                                    None => { "Niet ondertekend." }
                                }
                            }
                            h4 { "Doelen" }
                            ul { @for goal in &version.content.goals {
                                li { strong { (goal.title) } ": " (goal.description) }
                            } }
                            h4 { "Afspraken" }
                            ul { @for agreement in &version.content.agreements {
                                li { strong { (agreement.title) } ": " (agreement.description) }
                            } }
                            p { small { "Inhoudshash " (version.content_hash) } }
                        }
                    }
                }
                @if let Some(reports) = &export.reports {
                    section {
                        h2 { "Rapportages" }
                        @if reports.is_empty() { p { "Er zijn geen rapportages." } }
                        @for report in reports {
                            h3 { (moment(&report.written_at)) " — " (report.author.name) " (" (report.author.role) ")" }
                            p.text { (report.text) }
                        }
                    }
                }
                @if let Some(appointments) = &export.appointments {
                    section {
                        h2 { "Agenda" }
                        table {
                            tr { th { "Begin" } th { "Einde" } th { "Wat" } th { "Waar" } th { "Met" } }
                            @for appointment in appointments {
                                tr {
                                    td { (moment(&appointment.starts_at)) }
                                    td { (moment(&appointment.ends_at)) }
                                    td { (appointment.title) }
                                    td { (appointment.location.as_deref().unwrap_or("")) }
                                    td { (appointment.with.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
                @if let Some(entries) = &export.access_log {
                    section {
                        h2 { "Wie heeft het dossier ingezien (logboek)" }
                        table {
                            tr { th { "Wanneer" } th { "Wie" } th { "Namens" } th { "Welke gegevens" } th { "Actie" } }
                            @for entry in entries {
                                tr {
                                    td { (moment(&entry.at)) }
                                    td {
                                        (entry.who.name.as_deref().unwrap_or("onbekend"))
                                        @if let Some(organisation) = &entry.who.organisation { ", " (organisation) }
                                    }
                                    td { (entry.on_behalf_of.as_deref().unwrap_or("")) }
                                    td { (entry.data.as_deref().unwrap_or("")) }
                                    td { (action_name(entry.action)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY.clone(),
    );
    response
}
