#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::run_function(care_plan_sign::from_env).await
}
