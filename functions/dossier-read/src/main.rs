#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::run_function(dossier_read::from_env).await
}
