//! The daily sweep against moto: who loses what on the closure day, that it is safe to run
//! twice, that the dossier is purged after the retention while the audit log stays, and that
//! its cost follows what is due rather than how many accounts exist.

use closure_sweep::ClosureSweep;
use shared::audit::{AuditAction, AuditEvent, Origin, Outcome};
use shared::closure::{SweepReport, SweepSettings};
use shared::schedule::ScheduledJob;
use shared::store::{AccountStatus, Client, ClientFacts, JobOutcome, Permission, Relation, Role};
use shared::testing::TestStack;
use shared::types::{AccountId, SessionId};
use time::macros::date;
use time::{Date, OffsetDateTime};

const ENDED: Date = date!(2026 - 11 - 10);
const CLOSES: Date = date!(2026 - 11 - 24);

fn job(stack: &TestStack) -> ClosureSweep {
    ClosureSweep {
        store: stack.store.clone(),
        settings: SweepSettings {
            retention_days: 30,
            lease_seconds: 60,
        },
    }
}

fn at(day: Date) -> OffsetDateTime {
    day.with_hms(3, 0, 0).unwrap().assume_utc()
}

async fn sweep(job: &ClosureSweep, day: Date) -> SweepReport {
    match job.run(at(day)).await.expect("the sweep runs") {
        JobOutcome::Completed(report) => report,
        JobOutcome::AlreadyRunning => panic!("the lease was held"),
    }
}

/// A client whose care ended on `ENDED`, as the sync records it.
async fn ended_client(stack: &TestStack) -> Client {
    let client = stack.add_client("noord").await;
    stack
        .store
        .record_client_facts(
            &client,
            &ClientFacts {
                display_name: client.display_name.clone(),
                deceased_on: None,
                care_ended_on: Some(ENDED),
                closes_on: Some(CLOSES),
            },
        )
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn on_the_closure_day_every_account_of_the_client_loses_it_and_nothing_before() {
    let stack = TestStack::new().await;
    let client = ended_client(&stack).await;
    let other = stack.add_client("noord").await;
    let primary = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    let daughter = stack
        .add_account(
            Role::AuthorisedUser,
            &[(&client, Relation::AuthorisedUser, &[Permission::Agenda])],
        )
        .await;
    // Authorised for both parents: keeps the account and the other parent.
    let son = stack
        .add_account(
            Role::AuthorisedUser,
            &[
                (&client, Relation::AuthorisedUser, &[Permission::Agenda]),
                (&other, Relation::AuthorisedUser, &[Permission::Agenda]),
            ],
        )
        .await;
    stack.login(&primary).await;
    stack.login(&son).await;
    let job = job(&stack);

    let early = sweep(&job, CLOSES.previous_day().unwrap()).await;
    assert_eq!(early, SweepReport::default());

    let report = sweep(&job, CLOSES).await;
    assert_eq!(
        (
            report.clients_closed,
            report.accounts_closed,
            report.grants_removed
        ),
        (1, 2, 1),
        "{report:?}"
    );
    for closed in [&primary, &daughter] {
        let context = stack
            .store
            .account_context(&closed.account.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(context.account.status, AccountStatus::Closed);
        assert!(context.grants.is_empty());
        assert!(context.sessions.is_empty(), "sessions are revoked");
    }
    let son_now = stack
        .store
        .account_context(&son.account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(son_now.account.status, AccountStatus::Active);
    assert_eq!(son_now.sessions.len(), 1);
    let kept: Vec<_> = son_now.grants.iter().map(|g| &g.client_id).collect();
    assert_eq!(kept, [&other.id]);

    let head = stack.store.get_client(&client.id).await.unwrap().unwrap();
    assert!(head.closed_at.is_some());
    let team = stack.store.team_clients("noord").await.unwrap();
    assert!(
        team.iter().all(|c| c.id != client.id),
        "staff no longer find the client"
    );
    assert!(team.iter().any(|c| c.id == other.id));

    let actions: Vec<AuditAction> = stack
        .client_audit(&client.id)
        .await
        .iter()
        .map(|event| event.action)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == AuditAction::AccountClosed)
            .count(),
        3
    );
    assert!(actions.contains(&AuditAction::ClientClosed));

    // Safe to run again, the same day or later.
    assert_eq!(sweep(&job, CLOSES).await, SweepReport::default());
}

#[tokio::test]
async fn after_the_retention_the_dossier_copy_is_purged_and_the_audit_log_stays() {
    let stack = TestStack::new().await;
    let client = ended_client(&stack).await;
    stack.publish_care_plan(&client.id, 1).await;
    stack.add_ecd_reports(&client.id, 30).await;
    stack.add_daily_appointments(&client.id, 0, 5).await;
    // The client and a nurse of the team have read the reports: each has a read mark.
    let holder = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    let nurse = stack.add_staff("noord").await;
    let readers = [&holder.account.id, &nurse.account.id];
    for reader in readers {
        let read = AuditEvent::new(AuditAction::Viewed, Outcome::Success, 0, &Origin::default())
            .about_client(&client.id);
        stack
            .store
            .record_read(&read, Some((reader, &client.id, 30)))
            .await
            .unwrap();
    }
    let reports_seen = |reader: &AccountId| {
        let (store, client) = (stack.store.clone(), client.id.clone());
        let reader = reader.clone();
        async move {
            store
                .client_access(&reader, &SessionId::generate(), &client)
                .await
                .unwrap()
                .reports_seen
        }
    };
    assert_eq!(reports_seen(&nurse.account.id).await, 30);
    let job = job(&stack);
    sweep(&job, CLOSES).await;
    let audit_before = stack.client_audit(&client.id).await.len();

    let purge_day = CLOSES + time::Duration::days(30);
    assert_eq!(
        sweep(&job, purge_day.previous_day().unwrap())
            .await
            .dossiers_purged,
        0
    );
    let report = sweep(&job, purge_day).await;
    assert_eq!(report.dossiers_purged, 1);
    // Head, plan, 30 reports with their references, 5 appointments.
    assert!(report.items_purged >= 37, "{report:?}");
    assert!(stack.store.get_client(&client.id).await.unwrap().is_none());
    assert!(
        stack
            .store
            .reports_page(&client.id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    for reader in readers {
        assert_eq!(reports_seen(reader).await, 0, "the read mark is purged");
    }
    let audit = stack.client_audit(&client.id).await;
    assert_eq!(audit.len(), audit_before + 1);
    assert_eq!(audit[0].action, AuditAction::DossierPurged);
    assert_eq!(sweep(&job, purge_day).await, SweepReport::default());
}

#[tokio::test]
async fn the_sweeps_cost_follows_what_is_due_not_the_number_of_accounts() {
    let mut requests = Vec::new();
    for bystanders in [2, 20] {
        let stack = TestStack::new().await;
        let client = ended_client(&stack).await;
        stack
            .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
            .await;
        let others = stack.add_client("noord").await;
        for _ in 0..bystanders {
            stack
                .add_account(
                    Role::AuthorisedUser,
                    &[(&others, Relation::AuthorisedUser, &[Permission::Agenda])],
                )
                .await;
        }
        let job = job(&stack);
        stack.dynamo_calls.take();
        sweep(&job, CLOSES).await;
        requests.push(stack.dynamo_calls.take());
    }
    assert_eq!(requests[0], requests[1], "{requests:?}");
}

#[tokio::test]
async fn a_sweep_while_another_holds_the_lease_does_nothing() {
    let stack = TestStack::new().await;
    let client = ended_client(&stack).await;
    let now = at(CLOSES).unix_timestamp();
    assert!(
        stack
            .store
            .acquire_lease(shared::store::SWEEP_JOB, "other", now, 600)
            .await
            .unwrap()
    );
    assert_eq!(
        job(&stack).run(at(CLOSES)).await.unwrap(),
        JobOutcome::AlreadyRunning
    );
    let head = stack.store.get_client(&client.id).await.unwrap().unwrap();
    assert!(head.closed_at.is_none());
}
