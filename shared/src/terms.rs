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
