//! A complete login stack on a fresh table in moto, for tests. Each stack gets its own table and
//! its own phone numbers, so tests run in parallel without seeing each other.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::accounts::{NewAccount, grant, register};
use crate::audit::Origin;
use crate::auth::Authenticator;
use crate::auth::flow::{CodeStep, IssuedTokens, LoginSettings, PasswordStep, RefreshStep};
use crate::auth::otp::CodeHasher;
use crate::auth::tokens::{TokenSigner, TokenVerifier, generate_key_pair};
use crate::dossier::{
    Appointment, Author, CarePlanContent, CarePlanVersion, PlanItem, Report, ReportSource,
};
use crate::notify::SmsSender;
use crate::store::{Account, Client, Permission, Relation, Role, SmsLimits, Store};
use crate::terms::TermsConfig;
use crate::types::{ChallengeId, ClientId, EmailAddress, OtpCode, PhoneNumber, ReportId, Username};

pub const PASSWORD: &str = "a long and personal phrase";
pub const TERMS_VERSION: &str = "2.0";

/// Counts the DynamoDB requests a client makes (pages of a query count one each), so that tests
/// hold each route to its round-trip budget, and how long at least one of them was in flight, so
/// that the bench can tell a route's own time apart from the store's.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<Calls>>);

#[derive(Debug, Default)]
struct Calls {
    count: usize,
    in_flight: usize,
    busy_since: Option<Instant>,
    busy: Duration,
}

impl CallCounter {
    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The requests made since the last call.
    pub fn take(&self) -> usize {
        std::mem::take(&mut self.calls().count)
    }

    /// How long, since the last call, at least one request was in flight (overlapping requests
    /// count once).
    pub fn take_busy(&self) -> Duration {
        std::mem::take(&mut self.calls().busy)
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let mut calls = self.calls();
        calls.count += 1;
        if calls.in_flight == 0 {
            calls.busy_since = Some(Instant::now());
        }
        calls.in_flight += 1;
        Ok(())
    }

    fn read_after_execution(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let mut calls = self.calls();
        calls.in_flight = calls.in_flight.saturating_sub(1);
        if calls.in_flight == 0
            && let Some(since) = calls.busy_since.take()
        {
            calls.busy += since.elapsed();
        }
        Ok(())
    }
}

pub struct TestStack {
    pub sdk: crate::aws::SdkConfig,
    /// DynamoDB requests made through `store`.
    pub dynamo_calls: CallCounter,
    pub store: Store,
    pub signer: TokenSigner,
    pub verifier: TokenVerifier,
    pub codes: CodeHasher,
    pub settings: LoginSettings,
    pub terms: TermsConfig,
    pub moto: String,
}

pub struct TestAccount {
    pub account: Account,
    pub password: SecretString,
}

fn unique() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}{}",
        ulid::Ulid::new().to_string().to_lowercase(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A Dutch mobile number no other test in this run uses.
fn unique_phone() -> PhoneNumber {
    let digits: u64 = rand::random::<u64>() % 100_000_000;
    PhoneNumber::parse(&format!("+316{digits:08}")).expect("a valid number")
}

impl TestStack {
    pub async fn new() -> Self {
        let moto = testkit::moto_endpoint();
        let sdk = crate::aws::load().expect("AWS_CA_BUNDLE, if set, is a bundle");
        let table = format!("test-{}", unique());
        testkit::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await
            .expect("the table is created in moto");
        let dynamo_calls = CallCounter::default();
        let counted = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(dynamo_calls.clone())
                .build(),
        );
        let (private, public) = generate_key_pair();
        let der = base64::engine::general_purpose::STANDARD
            .decode(private.expose_secret())
            .expect("generated key is base64");
        Self {
            store: Store::new(counted, table),
            dynamo_calls,
            signer: TokenSigner::new(&der, "test".into(), "test-api".into(), 600)
                .expect("valid key"),
            verifier: TokenVerifier::new(&public, "test", "test-api").expect("valid key"),
            codes: CodeHasher::new(unique().into()),
            settings: LoginSettings {
                code_ttl_seconds: 300,
                code_max_attempts: 5,
                lockout_threshold: 5,
                lockout_base_seconds: 60,
                lockout_max_seconds: 3600,
                sms_limits: SmsLimits {
                    per_account_per_hour: 5,
                    per_number_per_hour: 8,
                },
                session_absolute_seconds: 12 * 3600,
                session_idle_seconds: 1800,
                terms_version: TERMS_VERSION.into(),
            },
            terms: TermsConfig {
                organisation: "Oktober".into(),
                version: TERMS_VERSION.into(),
                terms_url: "https://example.org/voorwaarden".into(),
                privacy_url: "https://example.org/privacy".into(),
                complaints_url: "https://example.org/klachten".into(),
                general_terms_url: "https://example.org/algemene-voorwaarden".into(),
            },
            sdk,
            moto,
        }
    }

    pub fn sms(&self) -> SmsSender {
        SmsSender::new(
            aws_sdk_sns::Client::new(&self.sdk),
            "Oktober".into(),
            "Oktober".into(),
        )
    }

    pub fn password_step(&self) -> PasswordStep {
        PasswordStep {
            store: self.store.clone(),
            sms: self.sms(),
            codes: self.codes.clone(),
            settings: self.settings.clone(),
        }
    }

    pub fn code_step(&self) -> CodeStep {
        CodeStep {
            store: self.store.clone(),
            codes: self.codes.clone(),
            signer: self.signer.clone(),
            settings: self.settings.clone(),
        }
    }

    pub fn refresh_step(&self) -> RefreshStep {
        RefreshStep {
            store: self.store.clone(),
            signer: self.signer.clone(),
            settings: self.settings.clone(),
        }
    }

    pub fn authenticator(&self) -> Authenticator {
        Authenticator::new(
            self.verifier.clone(),
            self.store.clone(),
            TERMS_VERSION,
            self.settings.session_idle_seconds,
        )
    }

    pub async fn add_client(&self, team: &str) -> Client {
        let client = Client::new(
            ClientId::parse(&format!("C-{}", unique())).expect("valid id"),
            "Test Cliënt",
            team,
        );
        self.store
            .create_client(&client)
            .await
            .expect("client created");
        client
    }

    /// Publishes care-plan `version` of `client` with a goal named after the version.
    pub async fn publish_care_plan(&self, client: &ClientId, version: u32) -> CarePlanVersion {
        let plan = CarePlanVersion::new(
            version,
            crate::time::now(),
            CarePlanContent {
                title: format!("Zorgleefplan versie {version}"),
                goals: vec![PlanItem {
                    title: format!("Doel {version}"),
                    description: "Zelfstandig blijven wonen".into(),
                }],
                agreements: vec![],
            },
        );
        self.store
            .publish_care_plan(client, &plan)
            .await
            .expect("care plan published");
        plan
    }

    /// `count` reports from the ECD, an hour apart, the newest an hour ago; newest first.
    pub async fn add_ecd_reports(&self, client: &ClientId, count: usize) -> Vec<Report> {
        let now = crate::time::now();
        let reports: Vec<Report> = (1..=count)
            .map(|n| {
                let written_at = now - time::Duration::hours(n as i64);
                Report {
                    id: ReportId::written_at(written_at),
                    written_at,
                    author: Author {
                        name: "Fleur Visser".into(),
                        role: "verzorgende IG".into(),
                    },
                    text: format!("Rapportage {n}"),
                    source: ReportSource::Ecd,
                }
            })
            .collect();
        self.store
            .add_ecd_reports(client, &reports)
            .await
            .expect("reports added");
        reports
    }

    /// One appointment a day at 10:00 UTC from `first_day_offset` days from today on.
    pub async fn add_daily_appointments(
        &self,
        client: &ClientId,
        first_day_offset: i64,
        days: i64,
    ) -> Vec<Appointment> {
        let today = crate::time::now().date().midnight().assume_utc();
        let appointments: Vec<Appointment> = (0..days)
            .map(|n| {
                let starts_at =
                    today + time::Duration::days(first_day_offset + n) + time::Duration::hours(10);
                Appointment {
                    id: format!("A-{n}"),
                    starts_at,
                    ends_at: starts_at + time::Duration::minutes(30),
                    title: "Ochtendzorg".into(),
                    location: Some("Thuis".into()),
                    with: None,
                }
            })
            .collect();
        self.store
            .put_appointments(client, &appointments)
            .await
            .expect("appointments written");
        appointments
    }

    /// The client's whole access log, newest first.
    pub async fn client_audit(&self, client: &ClientId) -> Vec<crate::audit::AuditEvent> {
        self.store.client_audit(client).await.expect("audit reads")
    }

    /// An active account that has accepted the current terms, with grants for `clients`.
    pub async fn add_account(
        &self,
        role: Role,
        clients: &[(&Client, Relation, &[Permission])],
    ) -> TestAccount {
        self.add_account_with(role, clients, Some(TERMS_VERSION.into()), None)
            .await
    }

    pub async fn add_account_with(
        &self,
        role: Role,
        clients: &[(&Client, Relation, &[Permission])],
        terms_version: Option<String>,
        team: Option<String>,
    ) -> TestAccount {
        let now = crate::time::now().unix_timestamp();
        let grants: Vec<_> = clients
            .iter()
            .map(|(client, relation, permissions)| grant(client, *relation, permissions, now))
            .collect();
        let name = unique();
        let account = register(
            &self.store,
            NewAccount {
                username: Username::parse(&format!("u{name}")).expect("valid username"),
                display_name: format!("Test {name}"),
                role,
                phone: unique_phone(),
                email: EmailAddress::parse(&format!("{name}@example.org")).expect("valid e-mail"),
                password: PASSWORD.into(),
                team,
                terms_version,
            },
            &grants,
        )
        .await
        .expect("account registered");
        TestAccount {
            account,
            password: PASSWORD.into(),
        }
    }

    /// A care worker of `team` who has accepted the current terms.
    pub async fn add_staff(&self, team: &str) -> TestAccount {
        self.add_account_with(
            Role::Staff,
            &[],
            Some(TERMS_VERSION.into()),
            Some(team.into()),
        )
        .await
    }

    /// The code in the newest SMS moto sent to `phone`.
    pub async fn sms_code(&self, phone: &PhoneNumber) -> OtpCode {
        let text = testkit::latest_code(&self.moto, phone.as_str())
            .await
            .expect("moto answers")
            .expect("an SMS was sent to this number");
        OtpCode::parse(&text).expect("the SMS starts with the code")
    }

    /// Both login steps, as a user would do them.
    pub async fn login(&self, who: &TestAccount) -> IssuedTokens {
        let started = self
            .password_step()
            .run(
                &who.account.username,
                who.password.clone(),
                &Origin::default(),
            )
            .await
            .expect("password accepted");
        self.finish_login(&started.challenge_id, &who.account.phone)
            .await
    }

    pub async fn finish_login(&self, challenge: &ChallengeId, phone: &PhoneNumber) -> IssuedTokens {
        let code = self.sms_code(phone).await;
        match self
            .code_step()
            .run(challenge, &code, &Origin::default())
            .await
        {
            Ok(tokens) => tokens,
            Err(err) => panic!("code refused: {err}"),
        }
    }
}

/// A response as tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

impl Reply {
    /// The problem `code` of an error response, after checking it is problem+json.
    pub fn problem_code(&self) -> &str {
        assert_eq!(
            self.headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap()),
            Some(crate::problem::PROBLEM_JSON),
            "not a problem document: {self:?}"
        );
        self.body["code"].as_str().unwrap_or_default()
    }
}

/// A request with an optional JSON body and bearer token.
pub fn request(
    method: &str,
    uri: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> http::Request<axum::body::Body> {
    let mut builder = http::Request::builder().method(method).uri(uri);
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    if let Some(token) = bearer {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder
        .body(
            body.map(|text| axum::body::Body::from(text.to_owned()))
                .unwrap_or_default(),
        )
        .expect("a valid request")
}

/// Sends `request` through the finished router, layers and all, as Lambda would.
pub async fn send(app: &axum::Router, request: http::Request<axum::body::Body>) -> Reply {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// The finished router of one function, as its Lambda serves it.
pub fn app(function: crate::http::FunctionRouter) -> axum::Router {
    crate::http::finish(function, &crate::http::HttpConfig::default())
}
