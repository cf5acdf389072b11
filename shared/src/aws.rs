//! AWS SDK configuration. Endpoints come from the SDK's own standard variables
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, …), so the same binary talks to AWS, to
//! moto, or to whatever `sam local` points it at.

use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpClient, SharedHttpClient, http_client_fn};

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

pub async fn load() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(lazy_https_client())
        .load()
        .await
}
