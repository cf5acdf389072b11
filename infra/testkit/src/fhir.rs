//! A FHIR R4 server on 127.0.0.1 that stands in for the organisation's ECD: it serves
//! recorded-style resources, takes the portal's conditional creates, and can be told to fail.
//!
//! Only what the portal uses is implemented: search by `_lastUpdated` with paging, read, and
//! create with `If-None-Exist: identifier=..` (or `target=..` on Provenance). Anything else is refused the way a strict server
//! refuses it, so a portal that leans on more than that fails here first.

use crate::{KitError, workspace_root};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

const FHIR_JSON: &str = "application/fhir+json";
const DEFAULT_COUNT: usize = 50;
const MAX_COUNT: usize = 500;

/// A running FHIR server; dropping it stops the server.
pub struct FhirServer {
    base_url: String,
    store: Shared,
    stop: Arc<Mutex<Stop>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FhirServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirServer")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FhirServer {
    /// Serves `resources` on 127.0.0.1 at an OS-chosen port.
    pub async fn start(resources: Vec<Value>) -> Result<FhirServer, KitError> {
        Self::start_on(0, resources).await
    }

    /// Same, on a given port (the local stack's configured port).
    pub async fn start_on(port: u16, resources: Vec<Value>) -> Result<FhirServer, KitError> {
        // Checked before binding so that bad test data never holds a port.
        let mut store = Store::load(resources)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|err| KitError::Fhir(format!("binding 127.0.0.1:{port}: {err}")))?;
        let port = listener
            .local_addr()
            .map_err(|err| KitError::Fhir(err.to_string()))?
            .port();
        let base_url = format!("http://127.0.0.1:{port}/fhir");
        store.base = base_url.clone();
        let store = Arc::new(Mutex::new(store));
        let stop = Arc::new(Mutex::new(Stop::default()));
        let app = router(store.clone());
        let stopped = stopped(stop.clone());
        let task = tokio::spawn(async move {
            // Serving on an accepted socket only ends with the shutdown signal; its io::Error
            // (if any) has nobody left to report to.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await;
        });
        Ok(FhirServer {
            base_url,
            store,
            stop,
            task,
        })
    }

    /// e.g. "http://127.0.0.1:41234/fhir" (no trailing slash)
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Adds or replaces a resource (by resourceType + id), as if changed in the ECD now: sets
    /// meta.versionId to the previous version + 1 (or "1"), and meta.lastUpdated to the current
    /// UTC time with millisecond precision, strictly later than any lastUpdated the server holds.
    /// Returns the stored resource.
    ///
    /// Panics when `resource` has no resourceType or id: that is a mistake in the test.
    pub fn upsert(&self, resource: Value) -> Value {
        lock(&self.store).upsert(resource)
    }

    /// Resources the portal created with POST, of this type, in order of creation (as they
    /// were stored when created).
    pub fn created(&self, resource_type: &str) -> Vec<Value> {
        lock(&self.store)
            .created
            .iter()
            .filter(|(kind, _)| kind == resource_type)
            .map(|(_, resource)| resource.clone())
            .collect()
    }

    /// How many HTTP requests the server has answered so far (all kinds, failures included).
    pub fn requests(&self) -> usize {
        lock(&self.store).requests
    }

    /// After `successful` more requests have been answered normally, every request is answered
    /// 503 with an OperationOutcome until `heal` is called. `fail_after(0)` fails from now on.
    pub fn fail_after(&self, successful: usize) {
        lock(&self.store).fail_after = Some(successful);
    }

    pub fn heal(&self) {
        lock(&self.store).fail_after = None;
    }
}

impl Drop for FhirServer {
    fn drop(&mut self) {
        // Aborting frees the port at once; the signal also closes keep-alive connections, which
        // axum serves from tasks of their own that an abort would leave answering.
        let waker = {
            let mut stop = lock(&self.stop);
            stop.stopped = true;
            stop.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        self.task.abort();
    }
}

/// The recorded demo data of the local stack: the resources (entry[].resource) of
/// infra/fhir/demo-bundle.json.
pub fn demo_resources() -> Result<Vec<Value>, KitError> {
    let path = workspace_root().join("infra/fhir/demo-bundle.json");
    let text = std::fs::read_to_string(&path).map_err(|err| KitError::Read(path.clone(), err))?;
    let fail = |what: String| KitError::Fhir(format!("{}: {what}", path.display()));
    let bundle: Value = serde_json::from_str(&text).map_err(|err| fail(err.to_string()))?;
    if bundle["resourceType"] != "Bundle" {
        return Err(fail("not a Bundle".into()));
    }
    let entries = bundle["entry"]
        .as_array()
        .ok_or_else(|| fail("no entry array".into()))?;
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            entry
                .get("resource")
                .cloned()
                .ok_or_else(|| fail(format!("entry {index} has no resource")))
        })
        .collect()
}

type Shared = Arc<Mutex<Store>>;

/// A handler that panicked must not take the rest of a test run down with a poisoned lock.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Stop {
    stopped: bool,
    waker: Option<Waker>,
}

/// Completes once the handle is dropped. Plain std, so that no tokio feature beyond the
/// workspace's is needed.
fn stopped(stop: Arc<Mutex<Stop>>) -> impl Future<Output = ()> + Send + 'static {
    std::future::poll_fn(move |cx| {
        let mut stop = lock(&stop);
        if stop.stopped {
            Poll::Ready(())
        } else {
            stop.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    })
}

struct Stored {
    resource: Value,
    /// meta.lastUpdated as an instant: searches compare instants, not strings.
    last_updated: OffsetDateTime,
}

struct Store {
    base: String,
    resources: BTreeMap<(String, String), Stored>,
    created: Vec<(String, Value)>,
    latest: Option<OffsetDateTime>,
    next_id: u64,
    requests: usize,
    fail_after: Option<usize>,
}

impl Store {
    fn load(resources: Vec<Value>) -> Result<Store, KitError> {
        let mut store = Store {
            base: String::new(),
            resources: BTreeMap::new(),
            created: Vec::new(),
            latest: None,
            next_id: 1,
            requests: 0,
            fail_after: None,
        };
        let mut unstamped = Vec::new();
        for (index, mut resource) in resources.into_iter().enumerate() {
            let fail = |what: String| KitError::Fhir(format!("resource {index}: {what}"));
            let key = resource_key(&resource).map_err(fail)?;
            let meta = resource
                .as_object_mut()
                .expect("resource_key checked it is an object")
                .entry("meta")
                .or_insert_with(|| json!({}));
            let Some(meta) = meta.as_object_mut() else {
                return Err(fail("meta is not an object".into()));
            };
            meta.entry("versionId").or_insert_with(|| json!("1"));
            let last_updated = match meta.get("lastUpdated") {
                None => None,
                Some(value) => Some(
                    value
                        .as_str()
                        .and_then(parse_instant)
                        .ok_or_else(|| fail(format!("meta.lastUpdated {value} is no instant")))?,
                ),
            };
            if store.resources.contains_key(&key) {
                return Err(fail(format!("{}/{} is given twice", key.0, key.1)));
            }
            match last_updated {
                Some(at) => {
                    store.latest = store.latest.max(Some(at));
                    store.resources.insert(
                        key,
                        Stored {
                            resource,
                            last_updated: at,
                        },
                    );
                }
                None => {
                    // Placeholder until every given lastUpdated is known.
                    store.resources.insert(
                        key.clone(),
                        Stored {
                            resource,
                            last_updated: OffsetDateTime::UNIX_EPOCH,
                        },
                    );
                    unstamped.push(key);
                }
            }
        }
        // Stamped only now so that they come after every lastUpdated that was given.
        for key in unstamped {
            let at = store.stamp();
            let stored = store.resources.get_mut(&key).expect("inserted above");
            stored.resource["meta"]["lastUpdated"] = json!(format_instant(at));
            stored.last_updated = at;
        }
        Ok(store)
    }

    /// A new lastUpdated: now, but strictly later than anything held, so that a client that
    /// searches `gt` its last seen instant always sees the change.
    fn stamp(&mut self) -> OffsetDateTime {
        let now = truncate_to_millis(OffsetDateTime::now_utc());
        let at = match self.latest {
            Some(latest) if now <= latest => truncate_to_millis(latest) + Duration::milliseconds(1),
            _ => now,
        };
        self.latest = Some(at);
        at
    }

    fn upsert(&mut self, mut resource: Value) -> Value {
        let key = resource_key(&resource).unwrap_or_else(|err| panic!("FhirServer::upsert: {err}"));
        let previous = self
            .resources
            .get(&key)
            .and_then(|stored| stored.resource["meta"]["versionId"].as_str()?.parse().ok())
            .unwrap_or(0u64);
        let at = self.stamp();
        set_meta(&mut resource, &(previous + 1).to_string(), at);
        self.resources.insert(
            key,
            Stored {
                resource: resource.clone(),
                last_updated: at,
            },
        );
        resource
    }

    fn new_id(&mut self, resource_type: &str) -> String {
        loop {
            let id = self.next_id.to_string();
            self.next_id += 1;
            // Numeric ids like HAPI's; skipped where the given data already uses one.
            if !self
                .resources
                .contains_key(&(resource_type.to_owned(), id.clone()))
            {
                return id;
            }
        }
    }
}

fn resource_key(resource: &Value) -> Result<(String, String), String> {
    let object = resource.as_object().ok_or("not a JSON object")?;
    let kind = object
        .get("resourceType")
        .and_then(Value::as_str)
        .filter(|kind| is_resource_type(kind))
        .ok_or("no valid resourceType")?;
    let id = object
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or("no id")?;
    Ok((kind.to_owned(), id.to_owned()))
}

/// Resource type names are capitalised words; anything else (`metadata`, `_history`) is a path
/// this server does not serve.
fn is_resource_type(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn set_meta(resource: &mut Value, version: &str, at: OffsetDateTime) {
    if !resource["meta"].is_object() {
        resource["meta"] = json!({});
    }
    resource["meta"]["versionId"] = json!(version);
    resource["meta"]["lastUpdated"] = json!(format_instant(at));
}

fn truncate_to_millis(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000_000 * 1_000_000)
        .expect("a whole number of milliseconds is a valid nanosecond")
}

fn format_instant(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .expect("a UTC instant formats")
}

fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// An error answered as an OperationOutcome.
struct Outcome {
    status: StatusCode,
    code: &'static str,
    diagnostics: String,
}

impl Outcome {
    fn new(status: StatusCode, code: &'static str, diagnostics: impl Into<String>) -> Outcome {
        Outcome {
            status,
            code,
            diagnostics: diagnostics.into(),
        }
    }

    fn invalid(diagnostics: impl Into<String>) -> Outcome {
        Outcome::new(StatusCode::BAD_REQUEST, "invalid", diagnostics)
    }

    fn not_found(diagnostics: impl Into<String>) -> Outcome {
        Outcome::new(StatusCode::NOT_FOUND, "not-found", diagnostics)
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        fhir_json(
            self.status,
            &json!({
                "resourceType": "OperationOutcome",
                "issue": [{
                    "severity": "error",
                    "code": self.code,
                    "diagnostics": self.diagnostics,
                }],
            }),
        )
    }
}

fn fhir_json(status: StatusCode, body: &Value) -> Response {
    let body = serde_json::to_vec(body).expect("a JSON value serialises");
    (status, [(header::CONTENT_TYPE, FHIR_JSON)], body).into_response()
}

/// A resource with the headers a FHIR server sends with it.
fn resource_response(status: StatusCode, resource: &Value) -> Response {
    let mut response = fhir_json(status, resource);
    if let Some(version) = resource["meta"]["versionId"].as_str()
        && let Ok(etag) = HeaderValue::from_str(&format!("W/\"{version}\""))
    {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

fn router(store: Shared) -> Router {
    Router::new()
        .route(
            "/fhir/{resource_type}",
            get(search).post(create).fallback(method_not_allowed),
        )
        .route(
            "/fhir/{resource_type}/{id}",
            get(read).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(store.clone(), gate))
        .with_state(store)
}

/// Injected failures come before anything else; every answer is counted.
async fn gate(State(store): State<Shared>, request: Request, next: Next) -> Response {
    let fail = {
        let mut store = lock(&store);
        match store.fail_after.as_mut() {
            Some(0) => true,
            Some(remaining) => {
                *remaining -= 1;
                false
            }
            None => false,
        }
    };
    let response = if fail {
        Outcome::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "the ECD is unavailable (failure injected by the test)",
        )
        .into_response()
    } else {
        next.run(request).await
    };
    lock(&store).requests += 1;
    response
}

async fn not_found(uri: Uri) -> Outcome {
    Outcome::not_found(format!("no such endpoint: {}", uri.path()))
}

async fn method_not_allowed(uri: Uri) -> Outcome {
    Outcome::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        format!("method not supported on {}", uri.path()),
    )
}

fn known_type(path: Result<Path<String>, PathRejection>) -> Result<String, Outcome> {
    let Path(kind) = path.map_err(|err| Outcome::invalid(err.body_text()))?;
    if is_resource_type(&kind) {
        Ok(kind)
    } else {
        Err(Outcome::not_found(format!("unknown resource type {kind}")))
    }
}

async fn read(
    State(store): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, Outcome> {
    let Path((kind, id)) = path.map_err(|err| Outcome::invalid(err.body_text()))?;
    if !is_resource_type(&kind) {
        return Err(Outcome::not_found(format!("unknown resource type {kind}")));
    }
    let store = lock(&store);
    let stored = store
        .resources
        .get(&(kind.clone(), id.clone()))
        .ok_or_else(|| Outcome::not_found(format!("{kind}/{id} is not known")))?;
    Ok(resource_response(StatusCode::OK, &stored.resource))
}

#[derive(Clone, Copy)]
enum Comparator {
    Ge,
    Gt,
    Le,
    Lt,
}

impl Comparator {
    fn holds(self, value: OffsetDateTime, bound: OffsetDateTime) -> bool {
        match self {
            Comparator::Ge => value >= bound,
            Comparator::Gt => value > bound,
            Comparator::Le => value <= bound,
            Comparator::Lt => value < bound,
        }
    }
}

struct SearchParams {
    last_updated: Vec<(Comparator, OffsetDateTime)>,
    count: usize,
    offset: usize,
    /// Every parameter as given but `_offset`, for the paging links.
    kept: Vec<(String, String)>,
}

fn search_params(uri: &Uri) -> Result<SearchParams, Outcome> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|err| Outcome::invalid(err.body_text()))?;
    let mut params = SearchParams {
        last_updated: Vec::new(),
        count: DEFAULT_COUNT,
        offset: 0,
        kept: Vec::new(),
    };
    for (name, value) in pairs {
        match name.as_str() {
            "_lastUpdated" => {
                let (comparator, instant) = match value.split_at_checked(2) {
                    Some(("ge", rest)) => (Comparator::Ge, rest),
                    Some(("gt", rest)) => (Comparator::Gt, rest),
                    Some(("le", rest)) => (Comparator::Le, rest),
                    Some(("lt", rest)) => (Comparator::Lt, rest),
                    _ => {
                        return Err(Outcome::invalid(format!(
                            "_lastUpdated={value}: only the prefixes ge, gt, le and lt are supported"
                        )));
                    }
                };
                // A raw `+` decodes to a space; a real server would not parse it either.
                let bound = parse_instant(instant).ok_or_else(|| {
                    Outcome::invalid(format!(
                        "_lastUpdated={value}: not an RFC 3339 instant (is a '+' in the offset \
                         URL-encoded as %2B?)"
                    ))
                })?;
                params.last_updated.push((comparator, bound));
            }
            "_sort" => {
                if value != "_lastUpdated" {
                    return Err(Outcome::new(
                        StatusCode::BAD_REQUEST,
                        "not-supported",
                        format!("_sort={value}: only _sort=_lastUpdated is supported"),
                    ));
                }
            }
            "_count" => {
                let count: usize = value
                    .parse()
                    .map_err(|_| Outcome::invalid(format!("_count={value} is not a number")))?;
                params.count = count.min(MAX_COUNT);
            }
            "_offset" => {
                params.offset = value
                    .parse()
                    .map_err(|_| Outcome::invalid(format!("_offset={value} is not a number")))?;
                continue;
            }
            _ => {
                return Err(Outcome::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!("unknown search parameter {name}"),
                ));
            }
        }
        params.kept.push((name, value));
    }
    Ok(params)
}

/// Percent-encodes a query component; `:` stays readable, everything else beyond the
/// unreserved characters (notably `+` and `|`) is encoded.
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn search_url(
    base: &str,
    kind: &str,
    params: &[(String, String)],
    offset: Option<usize>,
) -> String {
    let mut query: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect();
    if let Some(offset) = offset {
        query.push(format!("_offset={offset}"));
    }
    if query.is_empty() {
        format!("{base}/{kind}")
    } else {
        format!("{base}/{kind}?{}", query.join("&"))
    }
}

async fn search(
    State(store): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, Outcome> {
    let kind = known_type(path)?;
    let params = search_params(&uri)?;
    let store = lock(&store);
    let mut matches: Vec<&Stored> = store
        .resources
        .iter()
        .filter(|((stored_kind, _), _)| *stored_kind == kind)
        .map(|(_, stored)| stored)
        .filter(|stored| {
            params
                .last_updated
                .iter()
                .all(|(comparator, bound)| comparator.holds(stored.last_updated, *bound))
        })
        .collect();
    // The map is ordered by id, and the sort is stable: ties on lastUpdated stay in id order.
    matches.sort_by_key(|stored| stored.last_updated);
    let total = matches.len();
    let end = params.offset.saturating_add(params.count).min(total);
    let page = matches.get(params.offset..end).unwrap_or_default();

    let self_offset = (params.offset > 0).then_some(params.offset);
    let mut link = vec![json!({
        "relation": "self",
        "url": search_url(&store.base, &kind, &params.kept, self_offset),
    })];
    // `_count=0` asks for the total only; a next link would never advance.
    if params.count > 0 && end < total {
        link.push(json!({
            "relation": "next",
            "url": search_url(&store.base, &kind, &params.kept, Some(end)),
        }));
    }
    let entry: Vec<Value> = page
        .iter()
        .map(|stored| {
            json!({
                "fullUrl": format!("{}/{kind}/{}", store.base, stored.resource["id"].as_str().unwrap_or_default()),
                "resource": stored.resource,
                "search": {"mode": "match"},
            })
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": link,
    });
    // FHIR JSON has no empty arrays: an empty page has no `entry`, as real servers send it.
    if !entry.is_empty() {
        bundle["entry"] = Value::Array(entry);
    }
    Ok(fhir_json(StatusCode::OK, &bundle))
}

/// The resources of `kind` that an `If-None-Exist` condition matches: `identifier=[system]|value`
/// (or `identifier=value`) on any type, and `target=<reference>` on Provenance.
fn existing_matches(store: &Store, kind: &str, criteria: &str) -> Result<Vec<Value>, Outcome> {
    // The header carries a query string; parsing it as one gets percent-decoding right.
    let uri: Uri = format!("/?{criteria}")
        .parse()
        .map_err(|_| Outcome::invalid(format!("If-None-Exist: {criteria} is not a query")))?;
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map_err(|err| Outcome::invalid(err.body_text()))?;
    let [(name, token)] = pairs.as_slice() else {
        return Err(Outcome::invalid(
            "If-None-Exist: only a single search parameter is supported",
        ));
    };
    let is_match: Box<dyn Fn(&Value) -> bool + '_> = match (kind, name.as_str()) {
        (_, "identifier") => {
            let (system, value) = match token.split_once('|') {
                Some((system, value)) => (Some(system), value),
                None => (None, token.as_str()),
            };
            let matches = move |identifier: &Value| {
                // An empty system (`|value`) means an identifier without one; an empty value
                // (`system|`) means any value in that system.
                let system_ok = match system {
                    None => true,
                    Some("") => identifier.get("system").is_none(),
                    Some(system) => identifier["system"] == system,
                };
                let value_ok = value.is_empty() || identifier["value"] == value;
                system_ok && value_ok
            };
            Box::new(move |resource: &Value| {
                resource["identifier"]
                    .as_array()
                    .is_some_and(|identifiers| identifiers.iter().any(matches))
            })
        }
        // The portal makes a care-plan signature idempotent on the signed plan version.
        ("Provenance", "target") => Box::new(move |resource: &Value| {
            resource["target"].as_array().is_some_and(|targets| {
                targets
                    .iter()
                    .any(|target| target["reference"] == token.as_str())
            })
        }),
        _ => {
            return Err(Outcome::new(
                StatusCode::BAD_REQUEST,
                "not-supported",
                format!("If-None-Exist: {name} is not supported on {kind}"),
            ));
        }
    };
    Ok(store
        .resources
        .iter()
        .filter(|((stored_kind, _), stored)| stored_kind == kind && is_match(&stored.resource))
        .map(|(_, stored)| stored.resource.clone())
        .collect())
}

async fn create(
    State(store): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Outcome> {
    let kind = known_type(path)?;
    let body = body.map_err(|err| Outcome::invalid(err.body_text()))?;
    let mut resource: Value = serde_json::from_slice(&body)
        .map_err(|err| Outcome::invalid(format!("the body is not JSON: {err}")))?;
    if !resource.is_object() {
        return Err(Outcome::invalid("the body is not a resource"));
    }
    if resource["resourceType"] != kind.as_str() {
        return Err(Outcome::invalid(format!(
            "resourceType {} does not match the endpoint {kind}",
            resource["resourceType"]
        )));
    }
    let criteria = headers
        .get("if-none-exist")
        .map(|value| {
            value
                .to_str()
                .map_err(|_| Outcome::invalid("If-None-Exist is not text"))
        })
        .transpose()?;

    let mut store = lock(&store);
    if let Some(criteria) = criteria {
        let existing = existing_matches(&store, &kind, criteria)?;
        match existing.as_slice() {
            [] => {}
            [found] => return Ok(resource_response(StatusCode::OK, found)),
            _ => {
                return Err(Outcome::new(
                    StatusCode::PRECONDITION_FAILED,
                    "multiple-matches",
                    format!(
                        "If-None-Exist: {criteria} matches {} resources",
                        existing.len()
                    ),
                ));
            }
        }
    }
    // A create ignores any id the client sent, as FHIR servers do.
    let id = store.new_id(&kind);
    resource["id"] = json!(id);
    let at = store.stamp();
    set_meta(&mut resource, "1", at);
    store.resources.insert(
        (kind.clone(), id.clone()),
        Stored {
            resource: resource.clone(),
            last_updated: at,
        },
    );
    store.created.push((kind.clone(), resource.clone()));
    let location = format!("{}/{kind}/{id}/_history/1", store.base);
    let mut response = resource_response(StatusCode::CREATED, &resource);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(id: &str, last_updated: &str) -> Value {
        json!({
            "resourceType": "Observation",
            "id": id,
            "meta": {"versionId": "1", "lastUpdated": last_updated},
            "status": "final",
        })
    }

    async fn get(url: &str) -> (u16, Value) {
        let response = crate::http()
            .get(url)
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            FHIR_JSON,
            "content type of {url}"
        );
        (status, response.json().await.expect("a JSON body"))
    }

    fn ids(bundle: &Value) -> Vec<&str> {
        bundle["entry"]
            .as_array()
            .map(|entry| {
                entry
                    .iter()
                    .map(|e| e["resource"]["id"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn link<'a>(bundle: &'a Value, relation: &str) -> Option<&'a str> {
        bundle["link"]
            .as_array()?
            .iter()
            .find(|link| link["relation"] == relation)?["url"]
            .as_str()
    }

    fn assert_outcome(status: u16, body: &Value, expected: u16) {
        assert_eq!(status, expected, "{body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
        assert_eq!(body["issue"][0]["severity"], "error");
        assert!(body["issue"][0]["code"].is_string());
        assert!(body["issue"][0]["diagnostics"].is_string());
    }

    #[tokio::test]
    async fn search_pages_with_next_links_and_filters_on_last_updated() {
        let server = FhirServer::start(vec![
            observation("o4", "2026-12-01T10:00:00Z"),
            // The same instant as o1, written with an offset: the tie is broken by id.
            observation("o2", "2026-12-01T09:00:00.000+01:00"),
            observation("o1", "2026-12-01T08:00:00.000Z"),
            observation("o3", "2026-12-01T08:00:00.500Z"),
            observation("o0", "2026-12-01T07:00:00.000Z"),
            json!({"resourceType": "Patient", "id": "o9",
                   "meta": {"versionId": "1", "lastUpdated": "2026-12-01T09:00:00.000Z"}}),
        ])
        .await
        .unwrap();
        let base = server.base_url();
        assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/fhir"));

        let (status, all) = get(&format!("{base}/Observation")).await;
        assert_eq!(status, 200);
        assert_eq!(all["resourceType"], "Bundle");
        assert_eq!(all["type"], "searchset");
        assert_eq!(all["total"], 5);
        assert_eq!(ids(&all), ["o0", "o1", "o2", "o3", "o4"]);
        assert_eq!(
            link(&all, "self"),
            Some(format!("{base}/Observation").as_str())
        );
        assert_eq!(link(&all, "next"), None);
        assert_eq!(all["entry"][0]["fullUrl"], format!("{base}/Observation/o0"));
        assert_eq!(all["entry"][0]["search"]["mode"], "match");

        // ge includes the boundary; the `+` of the offset travels encoded.
        let first = format!(
            "{base}/Observation?_lastUpdated=ge2026-12-01T09:00:00.000%2B01:00&_sort=_lastUpdated&_count=3"
        );
        let (status, page) = get(&first).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 4);
        assert_eq!(ids(&page), ["o1", "o2", "o3"]);
        let next = link(&page, "next").expect("a next link").to_owned();
        assert!(next.starts_with(&format!("{base}/Observation?")), "{next}");
        assert!(
            next.contains("_offset=3") && next.contains("_count=3"),
            "{next}"
        );
        let (status, page) = get(&next).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 4);
        assert_eq!(ids(&page), ["o4"]);
        assert_eq!(link(&page, "next"), None);

        // gt excludes the boundary, whichever way the stored instant was written.
        let (_, after) = get(&format!(
            "{base}/Observation?_lastUpdated=gt2026-12-01T08:00:00.000Z"
        ))
        .await;
        assert_eq!(ids(&after), ["o3", "o4"]);
        assert_eq!(after["total"], 2);

        // Nothing newer: a total of 0 and no entry at all.
        let (_, none) = get(&format!(
            "{base}/Observation?_lastUpdated=gt2026-12-01T10:00:00.000Z"
        ))
        .await;
        assert_eq!(none["total"], 0);
        assert!(none.get("entry").is_none(), "{none}");

        for bad in [
            "name=Anna",
            "_lastUpdated=eq2026-12-01T08:00:00Z",
            "_lastUpdated=ge2026-12-01",
            // An unencoded `+` arrives as a space.
            "_lastUpdated=ge2026-12-01T09:00:00+01:00",
            "_sort=-_lastUpdated",
            "_count=many",
        ] {
            let (status, body) = get(&format!("{base}/Observation?{bad}")).await;
            assert_outcome(status, &body, 400);
        }
    }

    #[tokio::test]
    async fn upsert_bumps_the_version_and_last_updated() {
        let server = FhirServer::start(vec![
            json!({"resourceType": "Patient", "id": "C-1",
                   "meta": {"versionId": "3", "lastUpdated": "2030-01-01T00:00:00.000Z"}}),
            json!({"resourceType": "Patient", "id": "C-2"}),
        ])
        .await
        .unwrap();
        let base = server.base_url();

        // Given without meta: version 1, and stamped after everything given.
        let (_, c2) = get(&format!("{base}/Patient/C-2")).await;
        assert_eq!(c2["meta"]["versionId"], "1");
        assert_eq!(c2["meta"]["lastUpdated"], "2030-01-01T00:00:00.001Z");

        let changed = server.upsert(json!({"resourceType": "Patient", "id": "C-1",
                                           "meta": {"versionId": "1"}, "birthDate": "1941-03-12"}));
        assert_eq!(changed["meta"]["versionId"], "4");
        // Now is before 2030: still strictly later than everything held.
        assert_eq!(changed["meta"]["lastUpdated"], "2030-01-01T00:00:00.002Z");
        let (status, read) = get(&format!("{base}/Patient/C-1")).await;
        assert_eq!(status, 200);
        assert_eq!(read, changed);

        let added = server.upsert(json!({"resourceType": "Patient", "id": "C-3"}));
        assert_eq!(added["meta"]["versionId"], "1");
        assert_eq!(added["meta"]["lastUpdated"], "2030-01-01T00:00:00.003Z");

        let (_, since) = get(&format!(
            "{base}/Patient?_lastUpdated=gt2030-01-01T00:00:00.001Z"
        ))
        .await;
        assert_eq!(ids(&since), ["C-1", "C-3"]);
    }

    #[tokio::test]
    async fn upsert_stamps_the_current_time_in_milliseconds() {
        let server = FhirServer::start(vec![observation("r1", "2026-11-01T00:00:00Z")])
            .await
            .unwrap();
        let before = truncate_to_millis(OffsetDateTime::now_utc());
        let first = server.upsert(observation("r1", "2020-01-01T00:00:00Z"));
        let second = server.upsert(observation("r1", "2020-01-01T00:00:00Z"));
        let after = OffsetDateTime::now_utc();
        assert_eq!(second["meta"]["versionId"], "3");
        let stamps: Vec<&str> = [&first, &second]
            .iter()
            .map(|r| r["meta"]["lastUpdated"].as_str().unwrap())
            .collect();
        for stamp in &stamps {
            assert_eq!(stamp.len(), "2026-12-01T08:00:00.000Z".len(), "{stamp}");
            assert!(stamp.ends_with('Z') && &stamp[19..20] == ".", "{stamp}");
        }
        let first = parse_instant(stamps[0]).unwrap();
        let second = parse_instant(stamps[1]).unwrap();
        // Back to back within a millisecond would tie; the second must still be later.
        assert!(before <= first && first < second, "{stamps:?}");
        assert!(second <= after + Duration::milliseconds(1), "{stamps:?}");
    }

    #[tokio::test]
    async fn conditional_create_is_idempotent_on_identifier() {
        let server = FhirServer::start(vec![json!({
            "resourceType": "Patient", "id": "C-1001",
            "meta": {"versionId": "1", "lastUpdated": "2026-11-02T09:14:27.000Z"},
            "identifier": [{"system": "urn:oktober:client", "value": "C-1001"}],
        })])
        .await
        .unwrap();
        let base = server.base_url();
        let client = crate::http();
        let message = json!({
            "resourceType": "Communication",
            "id": "chosen-by-client",
            "identifier": [{"system": "urn:oktober:portal-message", "value": "01JDEMO"}],
            "status": "completed",
            "payload": [{"contentString": "Graag een belafspraak met de EVV."}],
        });
        let post = |body: &Value| {
            client
                .post(format!("{base}/Communication"))
                .header("Content-Type", FHIR_JSON)
                .header(
                    "If-None-Exist",
                    "identifier=urn:oktober:portal-message|01JDEMO",
                )
                .json(body)
                .send()
        };

        let first = post(&message).await.unwrap();
        assert_eq!(first.status().as_u16(), 201);
        let location = first.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        let created: Value = first.json().await.unwrap();
        let id = created["id"].as_str().unwrap();
        assert_ne!(id, "chosen-by-client");
        assert_eq!(location, format!("{base}/Communication/{id}/_history/1"));
        assert_eq!(created["meta"]["versionId"], "1");
        assert!(created["meta"]["lastUpdated"].is_string());
        assert_eq!(created["payload"], message["payload"]);

        let again = post(&message).await.unwrap();
        assert_eq!(again.status().as_u16(), 200);
        assert_eq!(again.json::<Value>().await.unwrap(), created);
        assert_eq!(
            server.created("Communication"),
            std::slice::from_ref(&created)
        );

        let (status, read) = get(&format!("{base}/Communication/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(read, created);

        // A resource the server was started with counts as existing too.
        let patient = client
            .post(format!("{base}/Patient"))
            .header("If-None-Exist", "identifier=urn:oktober:client%7CC-1001")
            .json(&json!({"resourceType": "Patient",
                          "identifier": [{"system": "urn:oktober:client", "value": "C-1001"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(patient.status().as_u16(), 200);
        assert_eq!(patient.json::<Value>().await.unwrap()["id"], "C-1001");
        assert!(server.created("Patient").is_empty());

        // Another identifier is another resource.
        let other = client
            .post(format!("{base}/Communication"))
            .header(
                "If-None-Exist",
                "identifier=urn:oktober:portal-message|01JOTHER",
            )
            .json(&message)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status().as_u16(), 201);
        assert_eq!(server.created("Communication").len(), 2);

        let wrong = client
            .post(format!("{base}/Communication"))
            .json(&json!({"resourceType": "Patient"}))
            .send()
            .await
            .unwrap();
        let status = wrong.status().as_u16();
        assert_outcome(status, &wrong.json().await.unwrap(), 400);
        assert_eq!(server.created("Communication").len(), 2);
    }

    #[tokio::test]
    async fn conditional_create_of_a_signature_matches_its_target() {
        let server = FhirServer::start(Vec::new()).await.unwrap();
        let client = crate::http();
        let url = format!("{}/Provenance", server.base_url());
        let signature = |version: u32| {
            json!({
                "resourceType": "Provenance",
                "target": [{"reference": format!("CarePlan/cp-C-1002/_history/{version}")}],
                "recorded": "2026-12-03T10:00:00Z",
            })
        };
        let post = |version: u32, condition: String| {
            client
                .post(&url)
                .header("If-None-Exist", condition)
                .json(&signature(version))
                .send()
        };
        let condition = |version: u32| format!("target=CarePlan/cp-C-1002/_history/{version}");

        assert_eq!(post(2, condition(2)).await.unwrap().status().as_u16(), 201);
        assert_eq!(post(2, condition(2)).await.unwrap().status().as_u16(), 200);
        assert_eq!(post(3, condition(3)).await.unwrap().status().as_u16(), 201);
        assert_eq!(server.created("Provenance").len(), 2);

        let unsupported = post(4, "recorded=2026-12-03".into()).await.unwrap();
        let status = unsupported.status().as_u16();
        assert_outcome(status, &unsupported.json().await.unwrap(), 400);
        assert_eq!(server.created("Provenance").len(), 2);
    }

    #[tokio::test]
    async fn fail_after_then_heal() {
        let server = FhirServer::start(vec![observation("o1", "2026-12-01T08:00:00Z")])
            .await
            .unwrap();
        let base = server.base_url();
        let client = crate::http();
        server.fail_after(2);
        assert_eq!(get(&format!("{base}/Observation")).await.0, 200);
        assert_eq!(get(&format!("{base}/Observation/o1")).await.0, 200);
        let (status, body) = get(&format!("{base}/Observation")).await;
        assert_outcome(status, &body, 503);
        let post = client
            .post(format!("{base}/Observation"))
            .json(&json!({"resourceType": "Observation"}))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status().as_u16(), 503);
        assert!(server.created("Observation").is_empty());
        assert_eq!(server.requests(), 4);

        server.heal();
        assert_eq!(get(&format!("{base}/Observation")).await.0, 200);
        assert_eq!(server.requests(), 5);

        server.fail_after(0);
        let (status, body) = get(&format!("{base}/Observation/o1")).await;
        assert_outcome(status, &body, 503);
        assert_eq!(body["issue"][0]["code"], "transient");
        assert_eq!(server.requests(), 6);
    }

    #[tokio::test]
    async fn unknown_resources_and_methods_are_refused() {
        let server = FhirServer::start(vec![observation("o1", "2026-12-01T08:00:00Z")])
            .await
            .unwrap();
        let base = server.base_url();
        for url in [
            format!("{base}/Observation/o2"),
            format!("{base}/Patient/o1"),
            format!("{base}/metadata"),
            format!("{base}/Observation/o1/_history/1"),
            format!("{}/other", base.trim_end_matches("/fhir")),
        ] {
            let (status, body) = get(&url).await;
            assert_outcome(status, &body, 404);
        }
        let delete = crate::http()
            .delete(format!("{base}/Observation/o1"))
            .send()
            .await
            .unwrap();
        let status = delete.status().as_u16();
        assert_eq!(delete.headers()[reqwest::header::CONTENT_TYPE], FHIR_JSON);
        assert_outcome(status, &delete.json().await.unwrap(), 405);
        assert_eq!(server.requests(), 6);
    }

    #[tokio::test]
    async fn start_refuses_bad_data_and_a_taken_port() {
        let missing_id = FhirServer::start(vec![json!({"resourceType": "Patient"})]).await;
        assert!(
            matches!(missing_id, Err(KitError::Fhir(_))),
            "{missing_id:?}"
        );
        let bad_instant = FhirServer::start(vec![observation("o1", "yesterday")]).await;
        assert!(
            matches!(bad_instant, Err(KitError::Fhir(_))),
            "{bad_instant:?}"
        );

        let server = FhirServer::start(Vec::new()).await.unwrap();
        let port: u16 = server
            .base_url()
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/fhir")
            .parse()
            .unwrap();
        let taken = FhirServer::start_on(port, Vec::new()).await;
        assert!(matches!(taken, Err(KitError::Fhir(_))), "{taken:?}");
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_server() {
        let server = FhirServer::start(Vec::new()).await.unwrap();
        let url = format!("{}/Patient", server.base_url());
        // One client, so a kept-alive connection would still be there to answer.
        let client = crate::http();
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
        drop(server);
        let mut stopped = false;
        for _ in 0..50 {
            if client.get(&url).send().await.is_err() {
                stopped = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(stopped, "still answering after the handle was dropped");
    }

    #[tokio::test]
    async fn demo_resources_load_and_are_served() {
        let resources = demo_resources().unwrap();
        for resource in &resources {
            assert!(resource["resourceType"].is_string(), "{resource}");
            assert!(resource["id"].is_string(), "{resource}");
            let updated = resource["meta"]["lastUpdated"].as_str().unwrap();
            assert!(
                updated.starts_with("2026-11-") && updated.ends_with('Z'),
                "{updated}"
            );
            assert!(parse_instant(updated).is_some(), "{updated}");
            assert!(resource["meta"]["versionId"].is_string(), "{resource}");
        }
        let count = |kind: &str| {
            resources
                .iter()
                .filter(|r| r["resourceType"] == kind)
                .count()
        };
        assert_eq!(count("Patient"), 5);
        assert_eq!(count("EpisodeOfCare"), 5);
        assert_eq!(count("CarePlan"), 1);
        assert_eq!(count("Observation"), 11);
        assert_eq!(count("Appointment"), 10);

        let bundle: Value = serde_json::from_str(
            &std::fs::read_to_string(workspace_root().join("infra/fhir/demo-bundle.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(bundle["type"], "collection");
        for entry in bundle["entry"].as_array().unwrap() {
            let resource = &entry["resource"];
            let full_url = entry["fullUrl"].as_str().unwrap();
            assert!(
                full_url.ends_with(&format!(
                    "/{}/{}",
                    resource["resourceType"].as_str().unwrap(),
                    resource["id"].as_str().unwrap()
                )),
                "{full_url}"
            );
        }

        let server = FhirServer::start(resources).await.unwrap();
        let (status, reports) = get(&format!(
            "{}/Observation?_lastUpdated=ge2026-11-01T00:00:00Z&_sort=_lastUpdated&_count=500",
            server.base_url()
        ))
        .await;
        assert_eq!(status, 200);
        assert_eq!(reports["total"], 11);
        let (status, plan) = get(&format!("{}/CarePlan/cp-C-1002", server.base_url())).await;
        assert_eq!(status, 200);
        assert_eq!(plan["meta"]["versionId"], "2");
    }
}
