//! HTTP plumbing shared by every function: a route table that records what it mounts (so the
//! template, the OpenAPI description and the local API can be checked against it), a strict JSON
//! extractor, and the layers every response passes through. The same [`finish`]ed router serves
//! in Lambda ([`run_function`]) and in the local API.

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use serde::de::DeserializeOwned;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::problem::ApiError;

/// Largest JSON body any route accepts. Every body in this API is a handful of short fields.
pub const MAX_JSON_BODY_BYTES: usize = 16 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// One route as API Gateway sees it: a method and a path template such as `/auth/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteSpec {
    pub method: String,
    pub path: String,
}

impl std::fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Builds a function's router and the list of routes it mounts at the same time.
pub struct Routes<S> {
    router: Router<S>,
    specs: Vec<RouteSpec>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self {
            router: Router::new(),
            specs: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.add(Method::GET, MethodFilter::GET, path, handler)
    }

    pub fn post<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.add(Method::POST, MethodFilter::POST, path, handler)
    }

    pub fn delete<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.add(Method::DELETE, MethodFilter::DELETE, path, handler)
    }

    fn add<H, T>(
        mut self,
        method: Method,
        filter: MethodFilter,
        path: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.route(path, on(filter, handler));
        self.specs.push(RouteSpec {
            method: method.to_string(),
            path: path.to_owned(),
        });
        self
    }

    pub fn with_state(self, state: S) -> FunctionRouter {
        FunctionRouter {
            router: self.router.with_state(state),
            routes: self.specs,
        }
    }
}

/// A function's routes with their state: what its Lambda serves, and what the local API mounts.
pub struct FunctionRouter {
    pub router: Router,
    pub routes: Vec<RouteSpec>,
}

impl FunctionRouter {
    pub fn merge(mut self, other: FunctionRouter) -> Self {
        self.router = self.router.merge(other.router);
        self.routes.extend(other.routes);
        self
    }
}

/// HTTP settings of the deployment: which browser origins may call the API.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    pub allowed_origins: Vec<String>,
}

impl HttpConfig {
    pub fn from_env() -> Self {
        Self {
            allowed_origins: crate::config::list("CORS_ALLOWED_ORIGINS"),
        }
    }
}

/// Wraps routes in what every response needs: problem+json for unknown routes and methods,
/// request ids, a tracing span per request, CORS for the configured origins and security headers.
pub fn finish(function: FunctionRouter, config: &HttpConfig) -> Router {
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            REQUEST_ID,
            header::CONTENT_DISPOSITION,
            HeaderName::from_static("idempotent-replayed"),
        ]);

    let security_headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ),
    ];

    let mut router = function
        .router
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::map_response(problem_for_bare_errors));
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    // A route that serves a page (the printable export) sets its own, equally strict, policy.
    router = router.layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ));
    router
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    // The route template, not the URI: paths and queries may carry identifiers of people.
    tracing::info_span!("request", method = %request.method(), route, request_id)
}

/// axum answers a wrong method with an empty 405; give it the same problem shape as the rest.
async fn problem_for_bare_errors(response: Response) -> Response {
    let bare = !response.headers().contains_key(header::CONTENT_TYPE);
    if bare && response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allow = response.headers().get(header::ALLOW).cloned();
        let mut problem = ApiError::MethodNotAllowed.into_response();
        if let Some(allow) = allow {
            problem.headers_mut().insert(header::ALLOW, allow);
        }
        return problem;
    }
    response
}

/// A JSON body that must be `application/json`, at most [`MAX_JSON_BODY_BYTES`], and match `T`
/// exactly: request types use `#[serde(deny_unknown_fields)]`, so unknown fields are refused.
pub struct StrictJson<T>(pub T);

impl<T, S> FromRequest<S> for StrictJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_JSON_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(MAX_JSON_BODY_BYTES))?;
        serde_json::from_slice(&bytes)
            .map(StrictJson)
            .map_err(|err| ApiError::BadRequest(format!("invalid JSON body: {err}")))
    }
}

/// Query parameters that must match `T` exactly (`#[serde(deny_unknown_fields)]`); a mismatch is
/// a problem+json 400 rather than axum's plain-text rejection.
pub struct StrictQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for StrictQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|query| StrictQuery(query.0))
            .map_err(|err| ApiError::BadRequest(format!("invalid query: {}", err.body_text())))
    }
}

/// The whole `main` of a function: JSON logs, AWS configuration, the function's routes from its
/// environment, served behind API Gateway.
pub async fn run_function<F>(build: F) -> Result<(), lambda_http::Error>
where
    F: FnOnce(&crate::aws::SdkConfig) -> Result<FunctionRouter, crate::config::ConfigError>,
{
    crate::telemetry::init();
    let sdk = crate::aws::load()?;
    let function = build(&sdk)?;
    lambda_http::run(finish(function, &HttpConfig::from_env())).await
}
