//! The terms of use in force (Art 1.4, 5.3–5.4): a version and the documents that go with it.
//! Another organisation runs the same stack by setting these variables.

use serde::Serialize;

use crate::config::{self, ConfigError};

#[derive(Debug, Clone, Serialize)]
pub struct TermsConfig {
    pub organisation: String,
    pub version: String,
    pub terms_url: String,
    pub privacy_url: String,
    pub complaints_url: String,
    pub general_terms_url: String,
}

impl TermsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            organisation: config::required("ORGANISATION_NAME")?,
            version: config::required("TERMS_VERSION")?,
            terms_url: config::required("TERMS_URL")?,
            privacy_url: config::required("PRIVACY_URL")?,
            complaints_url: config::required("COMPLAINTS_URL")?,
            general_terms_url: config::required("GENERAL_TERMS_URL")?,
        })
    }
}

/// Records that the actor accepted `version`, which must be the version in force (Art 1.4).
pub async fn accept(
    store: &crate::store::Store,
    actor: &crate::auth::Actor,
    current: &str,
    version: &str,
) -> crate::problem::ApiResult<crate::store::Epoch> {
    if version != current {
        return Err(crate::problem::ApiError::TermsVersionMismatch {
            offered: version.chars().take(32).collect(),
            current: current.to_owned(),
        });
    }
    let now = crate::time::now().unix_timestamp();
    let audit = actor
        .audit(
            crate::audit::AuditAction::TermsAccepted,
            crate::audit::Outcome::Success,
        )
        .detail(format!("version={current}"));
    store
        .accept_terms(&actor.account.id, current, now, &audit)
        .await?;
    Ok(now)
}
