//! Errors as `application/problem+json` (RFC 9457). Every variant has a stable `code` that
//! clients can switch on; `detail` is for people. Internal causes are logged, never returned.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::types::InvalidValue;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidField(#[from] InvalidValue),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("no route matches this path")]
    NotFound,
    #[error("{0} was not found")]
    ResourceNotFound(&'static str),
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("a valid bearer token is required")]
    Unauthenticated,
    #[error("the session has ended; log in again")]
    SessionEnded,
    #[error("username or password is incorrect")]
    InvalidCredentials,
    #[error("too many failed attempts; try again in {retry_after_seconds} seconds")]
    LoginLocked { retry_after_seconds: u64 },
    #[error("this account cannot log in; contact the organisation")]
    AccountUnavailable,
    #[error("the login attempt is unknown, used or expired; log in again")]
    ChallengeInvalid,
    #[error("the code is incorrect; {remaining_attempts} attempts left")]
    CodeIncorrect { remaining_attempts: u32 },
    #[error("too many codes were sent; try again later")]
    SmsLimitReached,
    #[error("the SMS could not be sent; nothing was changed, try again in a moment")]
    SmsUnavailable,
    #[error("the refresh token is invalid or expired; log in again")]
    RefreshInvalid,
    #[error("the current terms of use must be accepted first")]
    TermsNotAccepted,
    #[error("version {offered} is not the current terms version ({current})")]
    TermsVersionMismatch { offered: String, current: String },
    #[error("you may not do this")]
    Forbidden,
    #[error("you have no access to this client's portal, or there is no such client")]
    ClientForbidden,
    #[error("this needs the permission {}, which you were not granted", .0.as_str())]
    PermissionMissing(crate::store::Permission),
    #[error("the cursor is not one this list gave out")]
    InvalidCursor,
    #[error("{0}")]
    InvalidPeriod(String),
    #[error("the period may be at most {max_days} days long")]
    PeriodTooLong { max_days: i64 },
    #[error(
        "version {offered} is not the current care plan (version {current}); reload it and sign the current version"
    )]
    CarePlanVersionNotCurrent { offered: u32, current: u32 },
    #[error("this version of the care plan has been signed already")]
    CarePlanAlreadySigned,
    #[error(
        "the content hash does not match this version of the care plan; reload it before signing"
    )]
    ContentHashMismatch,
    #[error("this write needs an Idempotency-Key header")]
    IdempotencyKeyRequired,
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a storage or network dependency failed; nothing was changed, try again")]
    DependencyFailed,
    #[error("an unexpected error occurred")]
    Internal,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            BadRequest(_) | InvalidField(_) => StatusCode::BAD_REQUEST,
            PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NotFound | ResourceNotFound(_) => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Unauthenticated
            | SessionEnded
            | InvalidCredentials
            | ChallengeInvalid
            | CodeIncorrect { .. }
            | RefreshInvalid => StatusCode::UNAUTHORIZED,
            AccountUnavailable | TermsNotAccepted | Forbidden | ClientForbidden
            | PermissionMissing(_) => StatusCode::FORBIDDEN,
            InvalidCursor | InvalidPeriod(_) | PeriodTooLong { .. } | IdempotencyKeyRequired => {
                StatusCode::BAD_REQUEST
            }
            TermsVersionMismatch { .. }
            | CarePlanVersionNotCurrent { .. }
            | CarePlanAlreadySigned => StatusCode::CONFLICT,
            ContentHashMismatch | IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            LoginLocked { .. } | SmsLimitReached => StatusCode::TOO_MANY_REQUESTS,
            SmsUnavailable | DependencyFailed => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code of this problem.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            BadRequest(_) => "bad_request",
            InvalidField(_) => "invalid_field",
            PayloadTooLarge(_) => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            NotFound => "route_not_found",
            ResourceNotFound(_) => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Unauthenticated => "unauthenticated",
            SessionEnded => "session_ended",
            InvalidCredentials => "invalid_credentials",
            LoginLocked { .. } => "login_locked",
            AccountUnavailable => "account_unavailable",
            ChallengeInvalid => "challenge_invalid",
            CodeIncorrect { .. } => "code_incorrect",
            SmsLimitReached => "sms_limit_reached",
            SmsUnavailable => "sms_unavailable",
            RefreshInvalid => "refresh_invalid",
            TermsNotAccepted => "terms_not_accepted",
            TermsVersionMismatch { .. } => "terms_version_mismatch",
            Forbidden => "forbidden",
            ClientForbidden => "client_forbidden",
            PermissionMissing(_) => "permission_missing",
            InvalidCursor => "invalid_cursor",
            InvalidPeriod(_) => "invalid_period",
            PeriodTooLong { .. } => "period_too_long",
            CarePlanVersionNotCurrent { .. } => "care_plan_version_not_current",
            CarePlanAlreadySigned => "care_plan_already_signed",
            ContentHashMismatch => "content_hash_mismatch",
            IdempotencyKeyRequired => "idempotency_key_required",
            IdempotencyKeyReused => "idempotency_key_reused",
            DependencyFailed => "dependency_failed",
            Internal => "internal_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), "request failed");
        }
        let (remaining_attempts, retry_after_seconds) = match &self {
            ApiError::CodeIncorrect { remaining_attempts } => (Some(*remaining_attempts), None),
            ApiError::LoginLocked {
                retry_after_seconds,
            } => (None, Some(*retry_after_seconds)),
            _ => (None, None),
        };
        let body = ProblemBody {
            kind: format!("urn:problem:client-portal:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code(),
            field: match &self {
                ApiError::InvalidField(invalid) => Some(invalid.field),
                _ => None,
            },
            remaining_attempts,
            retry_after_seconds,
        };
        let mut response =
            (status, serde_json::to_string(&body).unwrap_or_default()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn problems_are_rfc9457_json_with_a_stable_code() {
        let response = ApiError::CodeIncorrect {
            remaining_attempts: 3,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["code"], "code_incorrect");
        assert_eq!(body["status"], 401);
        assert_eq!(body["remaining_attempts"], 3);
        assert_eq!(body["type"], "urn:problem:client-portal:code_incorrect");
    }
}
