//! Demo dossiers, written through the same store calls the ECD sync uses: C-1001 has a signed
//! first care-plan version and an unsigned current one, many reports (several pages) and a month
//! of appointments; C-1002 has a signed care plan, a few reports and weekly appointments.

use shared::dossier::{
    Appointment, Author, CarePlanContent, CarePlanVersion, PlanItem, Report, ReportSource,
    Signature,
};
use shared::store::{Account, Client, Relation, Store, StoreResult};
use shared::types::ReportId;
use time::{Duration, OffsetDateTime, Time};

const REPORT_TEXTS: &[&str] = &[
    "Goed geslapen. Ontbijt zelf klaargemaakt met wat hulp bij het smeren.",
    "Rustige ochtend. Samen de medicatie doorgenomen; alles volgens schema ingenomen.",
    "Wandeling naar de supermarkt gemaakt, ging goed met de rollator.",
    "Wat somber vandaag. Tijd genomen voor een gesprek; daarna beter gestemd.",
    "Douchen verliep vlot. Huid gecontroleerd, geen bijzonderheden.",
    "Dochter op bezoek geweest, samen koffie gedronken in de huiskamer.",
    "Lichte pijn in de rechterknie gemeld. Fysiotherapeut op de hoogte gebracht.",
    "Deelgenomen aan de muziekmiddag, zichtbaar genoten.",
];

const CARERS: &[(&str, &str)] = &[
    ("Fleur Visser", "verzorgende IG"),
    ("Ahmed El Idrissi", "wijkverpleegkundige"),
    ("Lotte Smit", "helpende"),
];

fn item(title: &str, description: &str) -> PlanItem {
    PlanItem {
        title: title.to_owned(),
        description: description.to_owned(),
    }
}

fn signature(by: &Account, relation: Relation, at: OffsetDateTime) -> Signature {
    Signature {
        signed_at: at,
        signer: by.id.clone(),
        signer_name: by.display_name.clone(),
        relation,
    }
}

fn reports(count: usize, now: OffsetDateTime) -> Vec<Report> {
    (0..count)
        .map(|n| {
            let written_at = now - Duration::hours(31 * n as i64 + 3);
            let (name, role) = CARERS[n % CARERS.len()];
            Report {
                id: ReportId::written_at(written_at),
                written_at,
                author: Author {
                    name: name.to_owned(),
                    role: role.to_owned(),
                },
                text: REPORT_TEXTS[n % REPORT_TEXTS.len()].to_owned(),
                source: ReportSource::Ecd,
            }
        })
        .collect()
}

/// Appointments from a week ago to a month ahead, every `every_days` days at 09:30 UTC.
fn appointments(prefix: &str, every_days: i64, now: OffsetDateTime) -> Vec<Appointment> {
    let first = (now - Duration::days(7)).replace_time(Time::from_hms(9, 30, 0).expect("valid"));
    (0..)
        .map(|n| first + Duration::days(n * every_days))
        .take_while(|start| *start < now + Duration::days(31))
        .enumerate()
        .map(|(n, starts_at)| {
            let (name, role) = CARERS[n % CARERS.len()];
            Appointment {
                id: format!("{prefix}-{n:03}"),
                starts_at,
                ends_at: starts_at + Duration::minutes(45),
                title: if n % 7 == 3 {
                    "Evaluatie zorgleefplan".to_owned()
                } else {
                    "Ondersteuning bij de ochtendzorg".to_owned()
                },
                location: Some("Thuis".to_owned()),
                with: Some(format!("{name}, {role}")),
            }
        })
        .collect()
}

pub async fn seed(
    store: &Store,
    anna: &Client,
    bert: &Client,
    anna_account: &Account,
    piet_account: &Account,
) -> StoreResult<()> {
    let now = shared::time::now();

    let mut first = CarePlanVersion::new(
        1,
        now - Duration::days(200),
        CarePlanContent {
            title: "Zorgleefplan 2026".into(),
            goals: vec![item(
                "Zelfstandig blijven wonen",
                "Mevrouw blijft zo lang mogelijk thuis wonen met dagelijkse ondersteuning.",
            )],
            agreements: vec![item(
                "Ochtendzorg",
                "Elke ochtend hulp bij wassen en aankleden.",
            )],
        },
    );
    first.signature = Some(signature(
        anna_account,
        Relation::ClientSelf,
        now - Duration::days(198),
    ));
    store.publish_care_plan(&anna.id, &first).await?;
    let second = CarePlanVersion::new(
        2,
        now - Duration::days(3),
        CarePlanContent {
            title: "Zorgleefplan 2026, na evaluatie".into(),
            goals: vec![
                item(
                    "Zelfstandig blijven wonen",
                    "Mevrouw blijft zo lang mogelijk thuis wonen met dagelijkse ondersteuning.",
                ),
                item(
                    "Veilig bewegen",
                    "Minder kans op vallen door oefeningen met de fysiotherapeut.",
                ),
            ],
            agreements: vec![
                item("Ochtendzorg", "Elke ochtend hulp bij wassen en aankleden."),
                item("Fysiotherapie", "Twee keer per week oefenen, thuis."),
            ],
        },
    );
    store.publish_care_plan(&anna.id, &second).await?;
    store.add_ecd_reports(&anna.id, &reports(45, now)).await?;
    store
        .put_appointments(&anna.id, &appointments("A1001", 1, now))
        .await?;
    store.mark_synced(&anna.id, now).await?;

    let mut plan = CarePlanVersion::new(
        1,
        now - Duration::days(60),
        CarePlanContent {
            title: "Zorgleefplan".into(),
            goals: vec![item(
                "Structuur in de dag",
                "Meneer heeft een vast dagritme met dagbesteding op dinsdag en donderdag.",
            )],
            agreements: vec![item(
                "Medicatie",
                "De thuiszorg reikt de medicatie 's ochtends en 's avonds aan.",
            )],
        },
    );
    plan.signature = Some(signature(
        piet_account,
        Relation::Representative,
        now - Duration::days(58),
    ));
    store.publish_care_plan(&bert.id, &plan).await?;
    store.add_ecd_reports(&bert.id, &reports(8, now)).await?;
    store
        .put_appointments(&bert.id, &appointments("A1002", 7, now))
        .await?;
    store.mark_synced(&bert.id, now).await
}
