//! An empty `lambda_http` function with one axum route: the floor of every cold-start figure.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    lambda_http::run(router).await
}
