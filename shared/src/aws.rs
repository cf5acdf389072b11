//! AWS SDK configuration. Endpoints come from the SDK's own standard variables
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, …), so the same binary talks to AWS, to
//! moto, or to whatever `sam local` points it at.

pub use aws_config::SdkConfig;

pub async fn load() -> SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
