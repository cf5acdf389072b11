#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::schedule::run_scheduled(ecd_sync::from_env).await
}
