//! AWS SDK configuration, built from the environment alone: the region, the credentials Lambda
//! puts in the environment, and endpoints from the SDK's own standard variables
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, …), so the same binary talks to AWS, to
//! moto, or to whatever `sam local` points it at.
//!
//! aws-config's default chain (profile files, SSO, web identity, the instance metadata service)
//! costs about 2 ms of every cold start and finds nothing in Lambda that the environment does not
//! already hold, so it is not used.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpClient, SharedHttpClient, http_client_fn};
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

pub use aws_config::SdkConfig;

/// The SDK's own HTTPS client (rustls with aws-lc), made when the first request needs a
/// connection rather than during init: loading the trusted roots takes several milliseconds of
/// a cold start that requests without a DynamoDB or SNS call never need.
fn lazy_https_client() -> SharedHttpClient {
    let client = std::sync::OnceLock::<SharedHttpClient>::new();
    http_client_fn(move |settings, components| {
        client
            .get_or_init(|| {
                aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                    .build_https()
            })
            .http_connector(settings, components)
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Per-service settings from the environment, as the SDK names them: `AWS_ENDPOINT_URL_<SERVICE>`
/// (the service id upper-cased, spaces as underscores) before `AWS_ENDPOINT_URL`.
#[derive(Debug)]
struct EnvironmentServiceConfig;

impl LoadServiceConfig for EnvironmentServiceConfig {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        env(&format!("{}_{service}", key.env())).or_else(|| env(key.env()))
    }
}

pub fn load() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(
            env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .map(Region::new),
        )
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .service_config(EnvironmentServiceConfig)
        .http_client(lazy_https_client())
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio is enabled"))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_endpoint_comes_before_the_global_one() {
        let key = |service| {
            ServiceConfigKey::builder()
                .service_id(service)
                .profile("endpoint_url")
                .env("CLIENT_PORTAL_TEST_ENDPOINT")
                .build()
                .unwrap()
        };
        // SAFETY: no other test reads or writes these variables.
        unsafe {
            std::env::set_var("CLIENT_PORTAL_TEST_ENDPOINT", "http://global");
            std::env::set_var("CLIENT_PORTAL_TEST_ENDPOINT_DYNAMODB", "http://dynamo");
        }
        assert_eq!(
            EnvironmentServiceConfig
                .load_config(key("DynamoDB"))
                .as_deref(),
            Some("http://dynamo")
        );
        assert_eq!(
            EnvironmentServiceConfig.load_config(key("SNS")).as_deref(),
            Some("http://global")
        );
    }
}
