//! Demo data: one client per situation the portal knows, and one account per role. Seeding is
//! idempotent: a table that already has the demo clients is left as it is.

mod dossier;

use secrecy::SecretString;
use shared::accounts::{NewAccount, RegisterError, grant, register};
use shared::store::{Client, Permission, Relation, Role, Store, StoreError};
use shared::types::{ClientId, EmailAddress, PhoneNumber, Username};

/// The password of every demo account. Local use only: these accounts exist only in moto.
pub const DEMO_PASSWORD: &str = "Oktober-demo-2026";

pub struct DemoAccount {
    pub username: &'static str,
    pub name: &'static str,
    pub role: Role,
    pub phone: &'static str,
    pub who: &'static str,
    /// Whether the account has accepted the terms in force, or meets the terms gate at login.
    pub terms_accepted: bool,
}

pub const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        username: "anna.devries",
        name: "Anna de Vries",
        role: Role::Client,
        phone: "+31610000001",
        who: "client C-1001, holds her own primary account",
        terms_accepted: true,
    },
    DemoAccount {
        username: "piet.jansen",
        name: "Piet Jansen",
        role: Role::Representative,
        phone: "+31610000002",
        who: "legal representative of client C-1002",
        terms_accepted: true,
    },
    DemoAccount {
        username: "sanne.devries",
        name: "Sanne de Vries",
        role: Role::AuthorisedUser,
        phone: "+31610000003",
        who: "daughter of C-1001: agenda, messages, reading reports",
        terms_accepted: true,
    },
    DemoAccount {
        username: "fleur.zorg",
        name: "Fleur Visser",
        role: Role::Staff,
        phone: "+31610000004",
        who: "care worker, team Noord (C-1001, C-1002)",
        terms_accepted: true,
    },
    DemoAccount {
        username: "beheer",
        name: "Bram Beheer",
        role: Role::Admin,
        phone: "+31610000005",
        who: "functional administrator",
        terms_accepted: true,
    },
    DemoAccount {
        username: "kees.bakker",
        name: "Kees Bakker",
        role: Role::Client,
        phone: "+31610000006",
        who: "client C-2001, has not yet accepted terms 2.0",
        terms_accepted: false,
    },
    DemoAccount {
        username: "jan.smit",
        name: "Jan Smit",
        role: Role::Representative,
        phone: "+31610000007",
        who: "son of C-1003, who died on 14 November: the first sweep closes this account",
        terms_accepted: true,
    },
];

fn client(id: &str, name: &str, team: &str) -> Client {
    Client::new(ClientId::parse(id).expect("demo ids are valid"), name, team)
}

#[derive(Debug)]
pub struct SeedError(pub String);

impl std::fmt::Display for SeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seeding demo data failed: {}", self.0)
    }
}

/// Writes the demo clients and accounts; returns `false` when they were already there.
pub async fn seed(store: &Store, terms_version: &str) -> Result<bool, SeedError> {
    let clients = [
        client("C-1001", "Mw. A. de Vries", "noord"),
        client("C-1002", "Dhr. B. Jansen", "noord"),
        client("C-2001", "Dhr. K. Bakker", "zuid"),
        client("C-1003", "Dhr. G. Smit", "noord"),
    ];
    for client in &clients {
        match store.create_client(client).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => return Ok(false),
            Err(err) => return Err(SeedError(err.to_string())),
        }
    }
    let [anna, bert, kees, gerrit] = &clients;
    let now = shared::time::now().unix_timestamp();
    let grants = |username: &str| match username {
        "anna.devries" => vec![grant(anna, Relation::ClientSelf, &[], now)],
        "piet.jansen" => vec![grant(bert, Relation::Representative, &[], now)],
        "sanne.devries" => vec![grant(
            anna,
            Relation::AuthorisedUser,
            &[
                Permission::Agenda,
                Permission::Messages,
                Permission::ReadReports,
            ],
            now,
        )],
        "kees.bakker" => vec![grant(kees, Relation::ClientSelf, &[], now)],
        "jan.smit" => vec![grant(gerrit, Relation::Representative, &[], now)],
        _ => Vec::new(),
    };
    let mut signers = std::collections::HashMap::new();
    for demo in ACCOUNTS {
        let new = NewAccount {
            username: Username::parse(demo.username).expect("demo usernames are valid"),
            display_name: demo.name.to_owned(),
            role: demo.role,
            phone: PhoneNumber::parse(demo.phone).expect("demo numbers are valid"),
            email: EmailAddress::parse(&format!("{}@example.org", demo.username)).expect("valid"),
            password: SecretString::from(DEMO_PASSWORD),
            team: (demo.role == Role::Staff).then(|| "noord".to_owned()),
            terms_version: demo.terms_accepted.then(|| terms_version.to_owned()),
        };
        let account = register(store, new, &grants(demo.username))
            .await
            .map_err(|err: RegisterError| SeedError(format!("{}: {err}", demo.username)))?;
        signers.insert(demo.username, account);
    }
    let signer = |username: &str| signers.get(username).expect("seeded above");
    dossier::seed(
        store,
        anna,
        bert,
        signer("anna.devries"),
        signer("piet.jansen"),
    )
    .await
    .map_err(|err| SeedError(format!("dossiers: {err}")))?;
    Ok(true)
}
