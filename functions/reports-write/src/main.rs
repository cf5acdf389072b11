#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::run_function(reports_write::from_env).await
}
