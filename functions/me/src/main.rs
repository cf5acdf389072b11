#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::run_function(me::from_env).await
}
