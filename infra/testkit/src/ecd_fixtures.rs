//! FHIR R4 resources shaped as the ECD sends them, for tests and the bench to put on the local
//! FHIR server. Times are RFC 3339 strings, as in FHIR.

use serde_json::{Value, json};

pub fn patient(id: &str, name: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [{ "system": "urn:oktober:client", "value": id }],
        "name": [{ "text": name }],
    })
}

/// A patient who died at `deceased` (a FHIR dateTime).
pub fn deceased_patient(id: &str, name: &str, deceased: &str) -> Value {
    let mut resource = patient(id, name);
    resource["deceasedDateTime"] = json!(deceased);
    resource
}

/// The client's episode of care; finished on `ended` when given.
pub fn episode(client: &str, ended: Option<&str>) -> Value {
    let mut resource = json!({
        "resourceType": "EpisodeOfCare",
        "id": format!("eoc-{client}"),
        "status": if ended.is_some() { "finished" } else { "active" },
        "patient": { "reference": format!("Patient/{client}") },
        "period": { "start": "2023-05-01" },
    });
    if let Some(ended) = ended {
        resource["period"]["end"] = json!(ended);
    }
    resource
}

/// The client's care plan with one goal and one agreement named after `title`.
pub fn care_plan(client: &str, title: &str) -> Value {
    json!({
        "resourceType": "CarePlan",
        "id": format!("cp-{client}"),
        "status": "active",
        "intent": "plan",
        "subject": { "reference": format!("Patient/{client}") },
        "title": title,
        "contained": [{
            "resourceType": "Goal",
            "id": "g1",
            "lifecycleStatus": "active",
            "description": { "text": format!("Doel van {title}") },
            "subject": { "reference": format!("Patient/{client}") },
            "note": [{ "text": "elke ochtend" }],
        }],
        "goal": [{ "reference": "#g1" }],
        "activity": [{ "detail": {
            "status": "in-progress",
            "code": { "text": "Hulp bij douchen" },
            "description": "dinsdag en vrijdag",
        }}],
    })
}

/// A care report (LOINC progress note) written at `at`.
pub fn report(id: &str, client: &str, at: &str, text: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "11506-3", "display": "Progress note" }] },
        "subject": { "reference": format!("Patient/{client}") },
        "effectiveDateTime": at,
        "performer": [{
            "reference": "Practitioner/p-fleur",
            "display": "Fleur Visser",
            "extension": [{
                "url": "https://oktober.nl/fhir/StructureDefinition/performer-role",
                "valueString": "verzorgende IG",
            }],
        }],
        "valueString": text,
    })
}

/// An appointment of the client from `start` to `end`; `status` as FHIR has it (`booked`,
/// `cancelled`, …).
pub fn appointment(id: &str, client: &str, start: &str, end: &str, status: &str) -> Value {
    json!({
        "resourceType": "Appointment",
        "id": id,
        "status": status,
        "description": "Fysiotherapie",
        "start": start,
        "end": end,
        "participant": [
            { "actor": { "reference": format!("Patient/{client}") }, "status": "accepted" },
            { "actor": { "reference": "Practitioner/p-joost", "display": "Joost Mulder, fysiotherapeut" }, "status": "accepted" },
            { "actor": { "reference": "Location/loc-linde", "display": "De Linde, behandelkamer 2" }, "status": "accepted" },
        ],
    })
}
