//! The sync against a local FHIR server and moto: what it brings in, that it brings nothing
//! twice, that it resumes after failing halfway, that the outbox reaches the ECD exactly once,
//! and that two runs never overlap.

use ecd_sync::EcdSync;
use serde_json::Value;
use shared::audit::{AuditAction, AuditEvent, Origin, Outcome};
use shared::dossier::{
    Author, CarePlanSummary, EcdSubmission, OutboxEntry, Report, ReportSource, Signature,
};
use shared::ecd::EcdClient;
use shared::schedule::ScheduledJob;
use shared::store::{Client, JobOutcome, Relation, SYNC_JOB};
use shared::sync::{SyncReport, SyncSettings};
use shared::testing::TestStack;
use shared::types::{AccountId, IdempotencyKey, ReportId};
use testkit::ecd_fixtures as fhir;
use testkit::fhir::FhirServer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn job(stack: &TestStack, server: &FhirServer) -> EcdSync {
    EcdSync {
        store: stack.store.clone(),
        ecd: EcdClient::new(server.base_url(), None, std::time::Duration::from_secs(5)),
        settings: SyncSettings {
            closure_delay_days: 14,
            lease_seconds: 60,
        },
    }
}

async fn sync(job: &EcdSync) -> SyncReport {
    match job.run(shared::time::now()).await.expect("the sync runs") {
        JobOutcome::Completed(report) => report,
        JobOutcome::AlreadyRunning => panic!("the lease was held"),
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

fn days_from_now(days: i64, hour: u8) -> OffsetDateTime {
    (shared::time::now().date() + time::Duration::days(days))
        .with_hms(hour, 0, 0)
        .unwrap()
        .assume_utc()
}

/// A client of the portal, known to the ECD with an active episode of care.
async fn client_in_both(stack: &TestStack, server: &FhirServer) -> Client {
    let client = stack.add_client("noord").await;
    server.upsert(fhir::patient(client.id.as_str(), "Anna de Vries"));
    server.upsert(fhir::episode(client.id.as_str(), None));
    client
}

async fn head(stack: &TestStack, client: &Client) -> Client {
    stack.store.get_client(&client.id).await.unwrap().unwrap()
}

async fn agenda(stack: &TestStack, client: &Client) -> Vec<shared::dossier::Appointment> {
    stack
        .store
        .appointments(
            &client.id,
            days_from_now(-30, 0),
            days_from_now(60, 0),
            None,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_first_sync_copies_the_ecd_for_the_portals_own_clients_only() {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![]).await.unwrap();
    let client = client_in_both(&stack, &server).await;
    let id = client.id.as_str();
    server.upsert(fhir::care_plan(id, "Zorgleefplan 2027"));
    for n in 1..=3 {
        server.upsert(fhir::report(
            &format!("obs-{n}"),
            id,
            &rfc3339(days_from_now(-n, 9)),
            &format!("Rapportage {n}"),
        ));
    }
    let start = days_from_now(3, 10);
    server.upsert(fhir::appointment(
        "appt-1",
        id,
        &rfc3339(start),
        &rfc3339(start + time::Duration::minutes(45)),
        "booked",
    ));
    server.upsert(fhir::appointment(
        "appt-2",
        id,
        &rfc3339(start),
        &rfc3339(start + time::Duration::minutes(45)),
        "cancelled",
    ));
    // Another organisation's client, and an observation that is not a report.
    server.upsert(fhir::patient("C-9001", "Onbekend"));
    server.upsert(fhir::report(
        "obs-other",
        "C-9001",
        &rfc3339(days_from_now(-1, 9)),
        "x",
    ));
    let mut heart_rate = fhir::report("obs-hr", id, &rfc3339(days_from_now(-1, 9)), "72");
    heart_rate["code"]["coding"][0]["code"] = "8867-4".into();
    server.upsert(heart_rate);

    let report = sync(&job(&stack, &server)).await;
    assert_eq!(report.resources, 11);
    assert_eq!(report.not_in_portal, 2, "{report:?}");
    assert_eq!(report.skipped, 1, "{report:?}");
    assert_eq!(report.applied, 8, "{report:?}");

    let head = head(&stack, &client).await;
    assert_eq!(head.report_count, 3);
    let plan = head.care_plan.expect("the care plan arrived");
    assert_eq!(
        (plan.version, plan.title.as_str()),
        (1, "Zorgleefplan 2027")
    );
    assert_eq!(plan.ecd_id.as_deref(), Some(format!("cp-{id}").as_str()));
    let reports = stack
        .store
        .reports_page(&client.id, None, 10)
        .await
        .unwrap();
    let texts: Vec<&str> = reports.items.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["Rapportage 1", "Rapportage 2", "Rapportage 3"]);
    assert_eq!(reports.items[0].author.role, "verzorgende IG");
    assert_eq!(reports.items[0].source, ReportSource::Ecd);
    let appointments = agenda(&stack, &client).await;
    assert_eq!(appointments.len(), 1, "the cancelled one is not shown");
    assert_eq!(appointments[0].starts_at, start);
    assert_eq!(
        appointments[0].location.as_deref(),
        Some("De Linde, behandelkamer 2")
    );
    assert!(
        stack
            .store
            .get_client(&shared::types::ClientId::parse("C-9001").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    let points = stack.store.sync_points().await.unwrap();
    assert!(points.completed_at.is_some());
    assert_eq!(points.since.len(), 5, "a checkpoint per kind");
}

#[tokio::test]
async fn later_runs_apply_what_changed_and_count_nothing_twice() {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![]).await.unwrap();
    let client = client_in_both(&stack, &server).await;
    let id = client.id.as_str();
    let written = rfc3339(days_from_now(-1, 9));
    server.upsert(fhir::report("obs-1", id, &written, "Goed geslapen."));
    server.upsert(fhir::report("obs-3", id, &written, "Verkeerde cliënt."));
    let start = days_from_now(2, 10);
    let end = start + time::Duration::hours(1);
    server.upsert(fhir::appointment(
        "appt-move",
        id,
        &rfc3339(start),
        &rfc3339(end),
        "booked",
    ));
    server.upsert(fhir::appointment(
        "appt-cancel",
        id,
        &rfc3339(start),
        &rfc3339(end),
        "booked",
    ));
    let job = job(&stack, &server);
    sync(&job).await;
    assert_eq!(agenda(&stack, &client).await.len(), 2);

    // Nothing changed: the boundary is read again, and nothing is counted again.
    sync(&job).await;
    assert_eq!(head(&stack, &client).await.report_count, 2);

    server.upsert(fhir::report(
        "obs-1",
        id,
        &written,
        "Goed geslapen, ontbijt op bed.",
    ));
    server.upsert(fhir::report(
        "obs-2",
        id,
        &rfc3339(days_from_now(0, 8)),
        "Nieuw.",
    ));
    let mut in_error = fhir::report("obs-3", id, &written, "Verkeerde cliënt.");
    in_error["status"] = "entered-in-error".into();
    server.upsert(in_error);
    let moved = start + time::Duration::days(1);
    server.upsert(fhir::appointment(
        "appt-move",
        id,
        &rfc3339(moved),
        &rfc3339(moved + time::Duration::hours(1)),
        "booked",
    ));
    server.upsert(fhir::appointment(
        "appt-cancel",
        id,
        &rfc3339(start),
        &rfc3339(end),
        "cancelled",
    ));
    let report = sync(&job).await;
    // The five changes, and the newest Patient and EpisodeOfCare again: the checkpoint is
    // inclusive, so a change sharing the checkpoint's time is never missed.
    assert_eq!(report.resources, 7, "only the changes: {report:?}");

    // Counted: obs-1, obs-3 and the new obs-2; obs-3 was entered in error and is not shown.
    assert_eq!(head(&stack, &client).await.report_count, 3);
    let reports = stack
        .store
        .reports_page(&client.id, None, 10)
        .await
        .unwrap();
    let texts: Vec<&str> = reports.items.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["Nieuw.", "Goed geslapen, ontbijt op bed."]);
    let appointments = agenda(&stack, &client).await;
    assert_eq!(appointments.len(), 1, "{appointments:?}");
    assert_eq!(
        (appointments[0].id.as_str(), appointments[0].starts_at),
        ("appt-move", moved)
    );
}

#[tokio::test]
async fn a_sync_that_fails_halfway_resumes_from_its_last_committed_page() {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![]).await.unwrap();
    let client = client_in_both(&stack, &server).await;
    for n in 0..450 {
        server.upsert(fhir::report(
            &format!("obs-{n}"),
            client.id.as_str(),
            &rfc3339(days_from_now(-1, 0) + time::Duration::minutes(n)),
            "Rapportage",
        ));
    }
    let job = job(&stack, &server);
    // Patient, EpisodeOfCare, CarePlan and the first page of reports answer; then the ECD fails.
    server.fail_after(4);
    let failed = job.run(shared::time::now()).await;
    assert!(failed.is_err(), "{failed:?}");
    let points = stack.store.sync_points().await.unwrap();
    assert!(
        points.since.contains_key("Observation"),
        "the first page was committed"
    );
    assert!(points.completed_at.is_none());
    assert_eq!(head(&stack, &client).await.report_count, 200);

    server.heal();
    let before = server.requests();
    let report = sync(&job).await;
    assert_eq!(head(&stack, &client).await.report_count, 450);
    // It went on from the committed page: two more pages of reports, not three.
    assert!(report.resources < 450, "{report:?}");
    assert!(
        server.requests() - before <= 7,
        "{} requests",
        server.requests() - before
    );
}

fn portal_report(client: &Client) -> (Report, OutboxEntry) {
    let now = shared::time::now();
    let report = Report {
        id: ReportId::generate(),
        written_at: now,
        author: Author {
            name: "Anna de Vries".into(),
            role: "cliënt".into(),
        },
        text: "Vandaag gewandeld.".into(),
        source: ReportSource::Portal,
    };
    let outbox = OutboxEntry::new(
        EcdSubmission::Report {
            client: client.id.clone(),
            report: report.clone(),
        },
        now,
    );
    (report, outbox)
}

#[tokio::test]
async fn the_outbox_reaches_the_ecd_once_and_leaves_only_when_acknowledged() {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![]).await.unwrap();
    let client = client_in_both(&stack, &server).await;
    let (report, outbox) = portal_report(&client);
    let audit = AuditEvent::new(
        AuditAction::ReportWritten,
        Outcome::Success,
        0,
        &Origin::default(),
    );
    stack
        .store
        .add_portal_report(
            &client.id,
            &report,
            (
                &AccountId::generate(),
                &IdempotencyKey::parse("key-00000001").unwrap(),
                "hash",
            ),
            &outbox,
            &audit,
        )
        .await
        .unwrap();
    let job = job(&stack, &server);

    server.fail_after(0);
    assert!(job.run(shared::time::now()).await.is_err());
    let pending = stack.store.pending_outbox().await.unwrap();
    assert_eq!(pending.len(), 1, "nothing is lost when the ECD is down");
    assert_eq!(pending[0].attempts, 1);
    assert!(pending[0].last_error.is_some());

    server.heal();
    let report_run = sync(&job).await;
    assert_eq!(report_run.delivered, 1);
    assert!(stack.store.pending_outbox().await.unwrap().is_empty());
    let created: Vec<Value> = server.created("Observation");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["valueString"], "Vandaag gewandeld.");
    assert_eq!(
        created[0]["subject"]["reference"],
        format!("Patient/{}", client.id)
    );
    assert_eq!(created[0]["identifier"][0]["value"], report.id.as_str());

    // The ECD's copy comes back in a later sync; it is the portal's own report, not a new one.
    sync(&job).await;
    assert_eq!(head(&stack, &client).await.report_count, 1);
}

#[tokio::test]
async fn a_delivery_repeated_after_a_lost_answer_creates_nothing_twice() {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![]).await.unwrap();
    let client = client_in_both(&stack, &server).await;
    let (_, outbox) = portal_report(&client);
    let ecd = EcdClient::new(server.base_url(), None, std::time::Duration::from_secs(5));
    ecd.submit(&outbox).await.unwrap();
    ecd.submit(&outbox).await.unwrap();
    assert_eq!(server.created("Observation").len(), 1);
}

#[tokio::test]
async fn a_run_while_another_holds_the_lease_does_nothing() {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![]).await.unwrap();
    let now = shared::time::now().unix_timestamp();
    assert!(
        stack
            .store
            .acquire_lease(SYNC_JOB, "other", now, 60)
            .await
            .unwrap()
    );
    let job = job(&stack, &server);
    assert_eq!(
        job.run(shared::time::now()).await.unwrap(),
        JobOutcome::AlreadyRunning
    );
    assert_eq!(server.requests(), 0);
    // A lease that ran out (its holder died) is taken over.
    assert!(
        stack
            .store
            .acquire_lease(SYNC_JOB, "next", now + 61, 60)
            .await
            .unwrap()
    );
    assert!(
        !stack
            .store
            .acquire_lease(SYNC_JOB, "third", now + 62, 60)
            .await
            .unwrap()
    );
    stack.store.release_lease(SYNC_JOB, "next").await.unwrap();
    sync(&job).await;
}

#[tokio::test]
async fn death_or_end_of_care_schedules_the_closure_and_a_correction_moves_it() {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![]).await.unwrap();
    let client = client_in_both(&stack, &server).await;
    let id = client.id.as_str();
    let job = job(&stack, &server);
    server.upsert(fhir::episode(id, Some("2026-11-20")));
    sync(&job).await;
    let closes = time::macros::date!(2026 - 12 - 04);
    assert_eq!(head(&stack, &client).await.closes_on, Some(closes));
    let due = stack.store.closures_due(closes).await.unwrap();
    assert!(due.iter().any(|d| d.client == client.id && d.on == closes));
    assert!(
        stack
            .store
            .closures_due(closes.previous_day().unwrap())
            .await
            .unwrap()
            .iter()
            .all(|d| d.client != client.id)
    );

    // The client died before the end of care was recorded: the earlier day counts.
    server.upsert(fhir::deceased_patient(
        id,
        "Anna de Vries",
        "2026-11-14T06:30:00+01:00",
    ));
    sync(&job).await;
    let earlier = time::macros::date!(2026 - 11 - 28);
    let now_head = head(&stack, &client).await;
    assert_eq!(now_head.closes_on, Some(earlier));
    let due = stack.store.closures_due(closes).await.unwrap();
    let mine: Vec<_> = due.iter().filter(|d| d.client == client.id).collect();
    assert_eq!(mine.len(), 1, "the old day left the schedule");
    assert_eq!(mine[0].on, earlier);
}

#[tokio::test]
async fn a_new_care_plan_version_becomes_current_and_an_old_one_is_ignored() {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![]).await.unwrap();
    let client = client_in_both(&stack, &server).await;
    stack.publish_care_plan(&client.id, 1).await;
    let job = job(&stack, &server);
    server.upsert(fhir::care_plan(client.id.as_str(), "Zorgleefplan"));
    sync(&job).await;
    // The ECD's version 1 is not newer than the portal's.
    assert_eq!(
        head(&stack, &client).await.care_plan.unwrap().title,
        "Zorgleefplan versie 1"
    );
    server.upsert(fhir::care_plan(client.id.as_str(), "Zorgleefplan herzien"));
    sync(&job).await;
    let plan = head(&stack, &client).await.care_plan.unwrap();
    assert_eq!(
        (plan.version, plan.title.as_str(), plan.signature),
        (2, "Zorgleefplan herzien", None)
    );
}

#[tokio::test]
async fn a_signature_reaches_the_ecd_as_provenance_of_the_signed_version() {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![]).await.unwrap();
    let client = client_in_both(&stack, &server).await;
    server.upsert(fhir::care_plan(client.id.as_str(), "Zorgleefplan"));
    let job = job(&stack, &server);
    sync(&job).await;
    let current = head(&stack, &client).await.care_plan.unwrap();
    let signature = Signature {
        signed_at: shared::time::now(),
        signer: AccountId::generate(),
        signer_name: "Anna de Vries".into(),
        relation: Relation::ClientSelf,
    };
    let signed = CarePlanSummary {
        signature: Some(signature.clone()),
        ..current.clone()
    };
    let outbox = OutboxEntry::new(
        EcdSubmission::CarePlanSignature {
            client: client.id.clone(),
            version: signed.version,
            content_hash: signed.content_hash.clone(),
            signature,
            care_plan: signed.ecd_id.clone(),
        },
        shared::time::now(),
    );
    let audit = AuditEvent::new(
        AuditAction::CarePlanSigned,
        Outcome::Success,
        0,
        &Origin::default(),
    );
    stack
        .store
        .sign_care_plan(&client.id, &signed, &outbox, &audit)
        .await
        .unwrap();

    assert_eq!(sync(&job).await.delivered, 1);
    let provenance = server.created("Provenance");
    assert_eq!(provenance.len(), 1);
    assert_eq!(
        provenance[0]["target"][0]["reference"],
        format!("CarePlan/cp-{}/_history/1", client.id)
    );
    assert_eq!(provenance[0]["agent"][0]["who"]["display"], "Anna de Vries");
    // Delivered again (an acknowledgement lost on the way): the ECD keeps one.
    EcdClient::new(server.base_url(), None, std::time::Duration::from_secs(5))
        .submit(&outbox)
        .await
        .unwrap();
    assert_eq!(server.created("Provenance").len(), 1);
}
