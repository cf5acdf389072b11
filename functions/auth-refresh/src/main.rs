#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::run_function(auth_refresh::from_env).await
}
