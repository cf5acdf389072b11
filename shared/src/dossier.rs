//! The portal's copy of a client's dossier (Art 1.2): care-plan versions, reports and
//! appointments, as the ECD sync (or the demo seed) writes them and the dossier routes read them.
//! Times are RFC 3339 in items and responses alike; the keys carry the sortable form.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::store::Relation;
use crate::time::rfc3339;
use crate::types::{AccountId, ClientId, EventId, InvalidValue, ReportId};

/// One goal or agreement of a care plan (zorgleefplan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub title: String,
    pub description: String,
}

/// What a care-plan version says: the part a signature binds to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarePlanContent {
    pub title: String,
    pub goals: Vec<PlanItem>,
    pub agreements: Vec<PlanItem>,
}

impl CarePlanContent {
    /// `sha256:` and the hex digest of the content's JSON. Field order is fixed by the type, so
    /// the same content always gives the same hash.
    pub fn content_hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("plain strings always serialise");
        let digest = Sha256::digest(json);
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// A primary holder's signature under one exact care-plan version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    #[serde(with = "rfc3339")]
    pub signed_at: OffsetDateTime,
    pub signer: AccountId,
    pub signer_name: String,
    pub relation: Relation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarePlanVersion {
    pub version: u32,
    #[serde(with = "rfc3339")]
    pub published_at: OffsetDateTime,
    pub content_hash: String,
    pub content: CarePlanContent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// The ECD's id of the CarePlan this version is of, so a signature can point at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecd_id: Option<String>,
}

impl CarePlanVersion {
    pub fn new(version: u32, published_at: OffsetDateTime, content: CarePlanContent) -> Self {
        Self {
            version,
            published_at,
            content_hash: content.content_hash(),
            content,
            signature: None,
            ecd_id: None,
        }
    }

    pub fn summary(&self) -> CarePlanSummary {
        CarePlanSummary {
            version: self.version,
            title: self.content.title.clone(),
            published_at: self.published_at,
            content_hash: self.content_hash.clone(),
            signature: self.signature.clone(),
            ecd_id: self.ecd_id.clone(),
        }
    }
}

/// The current version of a client's care plan, kept on the client's profile so that the
/// overview and signing know it without reading the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarePlanSummary {
    pub version: u32,
    pub title: String,
    #[serde(with = "rfc3339")]
    pub published_at: OffsetDateTime,
    pub content_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecd_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportSource {
    /// Written by the care team in the ECD and brought over by the sync.
    Ecd,
    /// Written in the portal by the client's side; sent to the ECD through the outbox.
    Portal,
}

/// Who wrote a report: a name and what they are to the client (a discipline for staff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub id: ReportId,
    #[serde(with = "rfc3339")]
    pub written_at: OffsetDateTime,
    pub author: Author,
    pub text: String,
    pub source: ReportSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    /// The ECD's identifier of the appointment.
    pub id: String,
    #[serde(with = "rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub ends_at: OffsetDateTime,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The care worker or discipline the appointment is with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
}

/// The part of a dossier an access concerned, as the access log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataCategory {
    Overview,
    CarePlan,
    Reports,
    Agenda,
    AccessLog,
    Export,
}

impl DataCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            DataCategory::Overview => "overview",
            DataCategory::CarePlan => "care_plan",
            DataCategory::Reports => "reports",
            DataCategory::Agenda => "agenda",
            DataCategory::AccessLog => "access_log",
            DataCategory::Export => "export",
        }
    }
}

/// Why a signature was refused, judged against the current care plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// The version signed is not (or no longer) the current one.
    NotCurrent { current: u32 },
    /// The current version is signed already.
    AlreadySigned(Signature),
    /// The hash sent is not the hash of the current version's content.
    HashMismatch,
}

impl CarePlanSummary {
    /// Whether `version` with `content_hash` may be signed now.
    pub fn check_signature(
        &self,
        version: u32,
        content_hash: &str,
    ) -> Result<(), SignatureRefusal> {
        if version != self.version {
            return Err(SignatureRefusal::NotCurrent {
                current: self.version,
            });
        }
        if let Some(signature) = &self.signature {
            return Err(SignatureRefusal::AlreadySigned(signature.clone()));
        }
        if content_hash != self.content_hash {
            return Err(SignatureRefusal::HashMismatch);
        }
        Ok(())
    }
}

/// What the portal owes the ECD: written in the same transaction as the change it carries and
/// delivered from the outbox until the ECD acknowledges it (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EcdSubmission {
    CarePlanSignature {
        client: ClientId,
        version: u32,
        content_hash: String,
        signature: Signature,
        /// The ECD's id of the care plan, when the version came from the ECD.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        care_plan: Option<String>,
    },
    Report {
        client: ClientId,
        report: Report,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: EventId,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    pub attempts: u32,
    /// Why the last delivery failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(flatten)]
    pub submission: EcdSubmission,
}

impl OutboxEntry {
    pub fn new(submission: EcdSubmission, created_at: OffsetDateTime) -> Self {
        Self {
            id: EventId::generate(),
            created_at,
            attempts: 0,
            last_error: None,
            submission,
        }
    }
}

/// The longest report the portal accepts, in characters.
pub const MAX_REPORT_CHARS: usize = 4000;

/// The text of a report written in the portal: plain text, 1 to [`MAX_REPORT_CHARS`] characters
/// after trimming, no control characters but line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ReportText(String);

impl ReportText {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue::new("text", "must not be empty"));
        }
        if trimmed.chars().count() > MAX_REPORT_CHARS {
            return Err(InvalidValue::new("text", "must be at most 4000 characters"));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(InvalidValue::new(
                "text",
                "must be plain text without control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ReportText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(goal: &str) -> CarePlanContent {
        CarePlanContent {
            title: "Zorgleefplan".into(),
            goals: vec![PlanItem {
                title: goal.into(),
                description: "elke dag".into(),
            }],
            agreements: vec![],
        }
    }

    #[test]
    fn the_content_hash_follows_the_content_and_nothing_else() {
        let hash = plan("Zelf aankleden").content_hash();
        assert!(hash.starts_with("sha256:"));
        assert_eq!(hash.len(), "sha256:".len() + 64);
        assert_eq!(hash, plan("Zelf aankleden").content_hash());
        assert_ne!(hash, plan("Zelf douchen").content_hash());
    }

    #[test]
    fn report_text_is_trimmed_plain_text_of_bounded_length() {
        assert_eq!(
            ReportText::parse("  Goed geslapen.\nRustige dag. ")
                .unwrap()
                .as_str(),
            "Goed geslapen.\nRustige dag."
        );
        assert!(ReportText::parse(&"é".repeat(MAX_REPORT_CHARS)).is_ok());
        for bad in [
            "",
            "   ",
            "bell\u{7}",
            "nul\u{0}",
            &"a".repeat(MAX_REPORT_CHARS + 1),
        ] {
            assert!(ReportText::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
