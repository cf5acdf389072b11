//! Sync and sweep cost: what a run of each scheduled job asks of DynamoDB (counted by the
//! interceptor the route tests use) and of the ECD, and how long it takes, against moto and the
//! local FHIR server.

use std::time::{Duration, Instant};

use closure_sweep::ClosureSweep;
use ecd_sync::EcdSync;
use shared::closure::SweepSettings;
use shared::ecd::EcdClient;
use shared::schedule::ScheduledJob;
use shared::store::{
    Account, AccountStatus, ClientFacts, Grant, JobOutcome, PasswordHash, Permission, Relation,
    Role,
};
use shared::sync::SyncSettings;
use shared::testing::TestStack;
use shared::types::{AccountId, EmailAddress, PhoneNumber, Username};
use testkit::ecd_fixtures as fhir;
use testkit::fhir::FhirServer;
use time::format_description::well_known::Rfc3339;

pub struct SyncFigure {
    pub what: String,
    pub resources: usize,
    pub elapsed: Duration,
    pub dynamo: usize,
    pub ecd: usize,
}

pub struct SweepFigure {
    pub accounts: usize,
    pub due_clients: usize,
    pub closed_accounts: usize,
    pub elapsed: Duration,
    pub dynamo: usize,
}

const CLIENTS: usize = 20;

fn sync_job(stack: &TestStack, server: &FhirServer) -> EcdSync {
    EcdSync {
        store: stack.store.clone(),
        ecd: EcdClient::new(server.base_url(), None, Duration::from_secs(30)),
        settings: SyncSettings {
            closure_delay_days: 14,
            lease_seconds: 900,
        },
    }
}

async fn timed_sync(
    what: &str,
    stack: &TestStack,
    server: &FhirServer,
    job: &EcdSync,
) -> SyncFigure {
    stack.dynamo_calls.take();
    let ecd_before = server.requests();
    let started = Instant::now();
    let outcome = job.run(shared::time::now()).await.expect("the sync runs");
    let elapsed = started.elapsed();
    let JobOutcome::Completed(report) = outcome else {
        panic!("the lease was held")
    };
    SyncFigure {
        what: what.to_owned(),
        resources: report.resources,
        elapsed,
        dynamo: stack.dynamo_calls.take(),
        ecd: server.requests() - ecd_before,
    }
}

/// A first sync of `items` reports and appointments over 20 clients, a run with nothing new,
/// and a run with a tenth of them changed.
pub async fn sync(items: usize) -> Vec<SyncFigure> {
    let stack = TestStack::new().await;
    let server = FhirServer::start(vec![])
        .await
        .expect("the FHIR server starts");
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let client = stack.add_client("noord").await;
        server.upsert(fhir::patient(client.id.as_str(), "Cliënt"));
        server.upsert(fhir::episode(client.id.as_str(), None));
        clients.push(client);
    }
    let now = shared::time::now();
    let resource = |n: usize, text: &str| {
        let client = clients[n % CLIENTS].id.as_str();
        let at = now - time::Duration::minutes(n as i64);
        if n.is_multiple_of(2) {
            fhir::report(
                &format!("obs-{n}"),
                client,
                &at.format(&Rfc3339).unwrap(),
                text,
            )
        } else {
            let start = (now + time::Duration::hours(n as i64))
                .format(&Rfc3339)
                .unwrap();
            let end = (now + time::Duration::hours(n as i64) + time::Duration::minutes(30))
                .format(&Rfc3339)
                .unwrap();
            fhir::appointment(&format!("appt-{n}"), client, &start, &end, "booked")
        }
    };
    for n in 0..items {
        server.upsert(resource(n, "Rapportage"));
    }
    let job = sync_job(&stack, &server);
    let mut figures = vec![
        timed_sync(
            &format!("first sync, {items} reports and appointments"),
            &stack,
            &server,
            &job,
        )
        .await,
    ];
    figures.push(timed_sync("next run, nothing changed", &stack, &server, &job).await);
    for n in (0..items).step_by(10) {
        server.upsert(resource(n, "Rapportage, bijgewerkt"));
    }
    figures.push(
        timed_sync(
            &format!("next run, {} changed", items / 10),
            &stack,
            &server,
            &job,
        )
        .await,
    );
    figures
}

fn bystander(n: usize, client: &shared::store::Client) -> (Account, Vec<Grant>) {
    let id = AccountId::generate();
    let account = Account {
        id,
        username: Username::parse(&format!("bench{n}")).expect("valid"),
        display_name: format!("Bench {n}"),
        role: Role::AuthorisedUser,
        status: AccountStatus::Active,
        phone: PhoneNumber::parse(&format!("+316{:08}", n)).expect("valid"),
        email: EmailAddress::parse(&format!("bench{n}@example.org")).expect("valid"),
        // Never logged in with: any PHC string will do.
        password_hash: PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$bench$bench".into()),
        team: None,
        terms_version: None,
        terms_accepted_at: None,
        created_at: 0,
        last_login_at: None,
    };
    let grant = shared::accounts::grant(client, Relation::AuthorisedUser, &[Permission::Agenda], 0);
    (account, vec![grant])
}

/// A sweep over a table of `accounts` accounts of which `due` clients' (three accounts each)
/// are due today.
pub async fn sweep(accounts: usize, due: usize) -> SweepFigure {
    let stack = TestStack::new().await;
    let today = shared::time::now().date();
    let mut filler = Vec::with_capacity(accounts);
    let active = stack.add_client("noord").await;
    for n in 0..accounts.saturating_sub(due * 3) {
        filler.push(bystander(n, &active));
    }
    for d in 0..due {
        let client = stack.add_client("noord").await;
        stack
            .store
            .record_client_facts(
                &client,
                &ClientFacts {
                    display_name: client.display_name.clone(),
                    deceased_on: None,
                    care_ended_on: Some(today - time::Duration::days(14)),
                    closes_on: Some(today),
                },
            )
            .await
            .expect("facts recorded");
        for k in 0..3 {
            let (account, _) = bystander(1_000_000 + d * 3 + k, &client);
            let relation = if k == 0 {
                Relation::ClientSelf
            } else {
                Relation::AuthorisedUser
            };
            let grant = shared::accounts::grant(&client, relation, &[Permission::Agenda], 0);
            filler.push((account, vec![grant]));
        }
    }
    stack
        .store
        .seed_accounts(&filler)
        .await
        .expect("accounts seeded");
    let job = ClosureSweep {
        store: stack.store.clone(),
        settings: SweepSettings {
            retention_days: 30,
            lease_seconds: 900,
        },
    };
    stack.dynamo_calls.take();
    let started = Instant::now();
    let outcome = job.run(shared::time::now()).await.expect("the sweep runs");
    let elapsed = started.elapsed();
    let JobOutcome::Completed(report) = outcome else {
        panic!("the lease was held")
    };
    SweepFigure {
        accounts,
        due_clients: report.clients_closed,
        closed_accounts: report.accounts_closed,
        elapsed,
        dynamo: stack.dynamo_calls.take(),
    }
}
