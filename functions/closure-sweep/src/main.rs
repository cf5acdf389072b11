#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::schedule::run_scheduled(closure_sweep::from_env).await
}
