//! `infra/run.sh` runs this: the whole portal on 127.0.0.1:$PORTAL_PORT against moto.

use local_stack::demo::{ACCOUNTS, DEMO_PASSWORD, seed};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settled = local_stack::prepare_environment();
    tokio::runtime::Runtime::new()?.block_on(run(settled))
}

async fn run(
    settled: std::collections::BTreeMap<&'static str, String>,
) -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let moto = std::env::var("AWS_ENDPOINT_URL")
        .map_err(|_| "AWS_ENDPOINT_URL must point at moto; start the stack with infra/run.sh")?;
    let moto_port = moto
        .rsplit(':')
        .next()
        .unwrap_or("5055")
        .trim_end_matches('/')
        .to_owned();
    let sdk = shared::aws::load()?;
    let store = shared::store::Store::from_env(&sdk)?;
    testkit::create_table(store.client(), store.table()).await?;
    let fresh = seed(&store, &settled["TERMS_VERSION"])
        .await
        .map_err(|err| err.to_string())?;

    let env_file = testkit::workspace_root().join("infra/.local/sam-local-env.json");
    std::fs::create_dir_all(env_file.parent().expect("has a parent"))?;
    std::fs::write(
        &env_file,
        serde_json::to_string_pretty(&local_stack::sam_env_vars(&settled, &moto_port))?,
    )?;

    let schedules = local_stack::start_schedules(&sdk).await?;
    let functions = local_stack::functions(&sdk)?;
    let routes = functions.routes.clone();
    let address = format!("127.0.0.1:{}", settled["PORTAL_PORT"]);
    let listener = tokio::net::TcpListener::bind(&address).await?;

    println!(
        "\nClient portal API on http://{address}  (table {}, moto {moto})",
        store.table()
    );
    println!("Routes:");
    for route in &routes {
        println!("  {route}");
    }
    println!(
        "\nDemo accounts ({}), password for all: {DEMO_PASSWORD}",
        if fresh {
            "just created"
        } else {
            "already in the table"
        }
    );
    for demo in ACCOUNTS {
        println!(
            "  {:<14} {:<16} {}  {}",
            demo.username,
            format!("{:?}", demo.role),
            demo.phone,
            demo.who
        );
    }
    println!(
        "\nLog in:\n  curl -s -X POST http://{address}/auth/login -H 'content-type: application/json' \\\n    -d '{{\"username\":\"anna.devries\",\"password\":\"{DEMO_PASSWORD}\"}}'\n  then POST /auth/verify with the challenge_id and the code printed below.\nLocal ECD (FHIR R4): {}\nSAM local env file: {}\nCtrl-C stops everything.\n",
        std::env::var("ECD_BASE_URL").unwrap_or_default(),
        env_file.display()
    );

    let outbox = tokio::spawn(local_stack::print_outbox(moto));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    local_stack::serve(listener, local_stack::app(functions), shutdown).await?;
    outbox.abort();
    drop(schedules);
    println!("stopped");
    Ok(())
}
