//! `infra/bench.sh` runs this: prints the tables of BENCHMARKS.md.
//!
//! Environment: `BENCH_BIN_DIR` (the release binaries), `BENCH_RUNS` (cold starts per function,
//! default 30), `BENCH_WARM` (warm invocations after the first cold start, default 1000),
//! `BENCH_SAMPLES` (requests per cheap route, default 200), `AWS_ENDPOINT_URL` (moto),
//! `BENCH_COLD_ONLY` (set: only the cold-start table, e.g. to compare build profiles).

mod cold;
mod emulator;
mod jobs;
mod warm;

use std::path::PathBuf;
use std::time::Duration;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

/// The zip Lambda takes: the `bootstrap` alone, deflated.
fn zipped_size(bootstrap: &std::path::Path) -> Option<u64> {
    let zip = std::env::temp_dir().join(format!("bench-{}.zip", std::process::id()));
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[2], 'bootstrap')",
        ])
        .arg(&zip)
        .arg(bootstrap)
        .status()
        .ok()?;
    let size = status
        .success()
        .then(|| std::fs::metadata(&zip).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_file(&zip);
    size
}

/// Where `sam build` (or cargo-lambda, for the floor) left each arm64 bootstrap.
fn arm64_bootstrap(root: &std::path::Path, binary: &str) -> Option<PathBuf> {
    let logical_id: String = binary
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<String>()
        + "Function";
    [
        root.join(".aws-sam/build")
            .join(&logical_id)
            .join("bootstrap"),
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join("lambda")
            .join(binary)
            .join("bootstrap"),
    ]
    .into_iter()
    .find(|path| path.exists())
}

fn main() {
    // Before any thread: the configuration every function reads, inherited by the binaries.
    let settled = local_stack::prepare_environment();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("root");
        let bin_dir = std::env::var("BENCH_BIN_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target/release"));
        let runs = env_number("BENCH_RUNS", 30).max(1);
        let warm_invocations = env_number("BENCH_WARM", 1000);
        let samples = env_number("BENCH_SAMPLES", 200);
        let _ = settled;
        // What the scheduled functions' runs need: the table, and an ECD (empty) to read.
        let sdk = shared::aws::load().expect("AWS_CA_BUNDLE, if set, is a bundle");
        let store = shared::store::Store::from_env(&sdk).expect("TABLE_NAME is set");
        testkit::create_table(store.client(), store.table()).await.expect("the table is created in moto");
        let ecd_port: u16 = shared::config::parsed_or("ECD_PORT", 3080).expect("ECD_PORT is a port");
        let _ecd = testkit::fhir::FhirServer::start_on(ecd_port, vec![]).await.expect("the local ECD starts");

        // BENCH_ONLY=jobs prints the sync and sweep tables alone, without release builds;
        // BENCH_ONLY=first-request the cold and warm handling of the first DynamoDB request.
        match std::env::var("BENCH_ONLY").as_deref() {
            Ok("jobs") => return print_jobs().await,
            Ok("first-request") => {
                let (cold_request, warm_request) = first_dynamo_request(&bin_dir, runs).await;
                return println!("first request {} ms, next {} ms", ms(cold_request), ms(warm_request));
            }
            _ => {}
        }
        println!("## Cold start, package size and memory\n");
        println!("Cold start: process start to the first invocation answered, {runs} runs each, taken in turns across the functions (median, min–max); init: process start to the first poll of the Runtime API. Ratio: median cold start over the floor's. Package: the arm64 `bootstrap` as `sam build` makes it, zipped. Peak RSS: over the cold start and {warm_invocations} warm invocations.\n");
        println!("| function | cold start ms | spread ms | init ms | ratio to floor | package KiB (zip) | bootstrap KiB | peak RSS MiB |");
        println!("|---|---|---|---|---|---|---|---|");
        // Runs go round the functions in turn, so that whatever else the machine does falls on
        // all of them alike; the first run of each also does the warm invocations.
        let built: Vec<&cold::Subject> = cold::SUBJECTS
            .iter()
            .filter(|subject| {
                let exists = bin_dir.join(subject.binary).exists();
                if !exists {
                    println!("| {} | not built in {} | | | | | | |", subject.binary, bin_dir.display());
                }
                exists
            })
            .collect();
        let mut measured: Vec<(Vec<Duration>, Vec<Duration>, Option<u64>)> = vec![(Vec::new(), Vec::new(), None); built.len()];
        for run in 0..runs {
            for (subject, (firsts, inits, peak)) in built.iter().zip(measured.iter_mut()) {
                let warm = match (run, subject.scheduled) {
                    (0, false) => warm_invocations,
                    (0, true) => warm_invocations / 10,
                    _ => 0,
                };
                match cold::run_once(&bin_dir.join(subject.binary), subject, warm).await {
                    Ok(cold_run) => {
                        firsts.push(cold_run.first_answer);
                        inits.push(cold_run.init);
                        *peak = peak.or(cold_run.peak_rss_kib);
                    }
                    Err(err) => {
                        eprintln!("{err}");
                        std::process::exit(1);
                    }
                }
            }
        }
        let mut floor: Option<(Duration, Duration)> = None;
        let mut scheduled_rows = Vec::new();
        for (subject, (mut firsts, mut inits, peak)) in built.into_iter().zip(measured) {
            firsts.sort();
            inits.sort();
            let cold = median(&firsts);
            let init = median(&inits);
            let (floor_cold, floor_init) = *floor.get_or_insert((cold, init));
            let package = arm64_bootstrap(&root, subject.binary);
            let zipped = package.as_deref().and_then(zipped_size).map(|b| (b / 1024).to_string()).unwrap_or_else(|| "–".into());
            let raw = package
                .and_then(|path| std::fs::metadata(path).ok())
                .map(|m| (m.len() / 1024).to_string())
                .unwrap_or_else(|| "–".into());
            let peak = peak.map(|kib| format!("{:.1}", kib as f64 / 1024.0)).unwrap_or_else(|| "–".into());
            if subject.scheduled {
                scheduled_rows.push(format!(
                    "| {} | {} | {:.2} | {} | {}–{} | {zipped} | {raw} | {peak} |",
                    subject.binary,
                    ms(init),
                    init.as_secs_f64() / floor_init.as_secs_f64(),
                    ms(cold),
                    ms(firsts[0]),
                    ms(firsts[firsts.len() - 1]),
                ));
                continue;
            }
            println!(
                "| {} | {} | {}–{} | {} | {:.2} | {zipped} | {raw} | {peak} |",
                subject.binary,
                ms(cold),
                ms(firsts[0]),
                ms(firsts[firsts.len() - 1]),
                ms(init),
                cold.as_secs_f64() / floor_cold.as_secs_f64(),
            );
        }
        if !scheduled_rows.is_empty() {
            println!("\nScheduled functions, invoked with EventBridge's scheduled event: their first answer is a whole run of the job against moto and the local ECD (an empty table and ECD), so their init is what compares with the floor's init. Peak RSS over the cold start and {} more runs.\n", warm_invocations / 10);
            println!("| function | init ms | ratio to floor's init | first run ms | spread ms | package KiB (zip) | bootstrap KiB | peak RSS MiB |");
            println!("|---|---|---|---|---|---|---|---|");
            for row in scheduled_rows {
                println!("{row}");
            }
        }

        let (cold_request, warm_request) = first_dynamo_request(&bin_dir, runs).await;
        println!("\nLeft from init to the first request: the SDK makes its HTTPS client on the first connection. `{}` answers `{} {}` (one GetItem, for an unknown challenge) in {} ms as the first request of a cold process and in {} ms as the next (medians of {runs} processes), so the first DynamoDB request of a cold function pays about {} ms more than the cold start above shows. On AWS a TLS handshake with DynamoDB comes on top.", cold::FIRST_DYNAMO_REQUEST.binary, cold::FIRST_DYNAMO_REQUEST.method, cold::FIRST_DYNAMO_REQUEST.path, ms(cold_request), ms(warm_request), ms(cold_request.saturating_sub(warm_request)));
        if std::env::var_os("BENCH_COLD_ONLY").is_some() {
            return;
        }
        let costly = (samples / 10).max(6);
        let (routes, login) = warm::routes(samples, costly).await;
        println!("\n## Warm latency per route (in process, against moto)\n");
        println!("The finished routers as the functions serve them, called in process; DynamoDB is moto (Python) on loopback, which dominates these times. Own p50: the median time of a call outside DynamoDB requests (an interceptor on the client notes when at least one is in flight), which is our code, the router and the SDK's request building and parsing: the route's cost apart from the store.\n");
        println!("| route | requests | p50 ms | p99 ms | own p50 ms | DynamoDB requests per call |");
        println!("|---|---|---|---|---|---|");
        for figure in routes {
            println!(
                "| `{}` | {} | {} | {} | {} | {:.1} |",
                figure.route,
                figure.samples,
                ms(figure.p50),
                ms(figure.p99),
                ms(figure.own_p50),
                figure.dynamo_per_request
            );
        }
        println!("\n## Login cost\n");
        println!(
            "| what | median ms |\n|---|---|\n| argon2id verify (m = {} KiB, t = {}, p = {}) | {} |\n| whole login: `POST /auth/login` + `POST /auth/verify` | {} |",
            shared::auth::password::MEMORY_KIB,
            shared::auth::password::ITERATIONS,
            shared::auth::password::PARALLELISM,
            ms(login.argon2_verify),
            ms(login.whole_login)
        );
        print_jobs().await;
    });
}

/// The median handling time of a DynamoDB-backed request as a cold process's first request
/// (first answer less init) and as its next.
async fn first_dynamo_request(bin_dir: &std::path::Path, runs: usize) -> (Duration, Duration) {
    let subject = &cold::FIRST_DYNAMO_REQUEST;
    let (mut cold_times, mut warm_times) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let run = cold::run_once(&bin_dir.join(subject.binary), subject, 1)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        cold_times.push(run.first_answer.saturating_sub(run.init));
        warm_times.push(run.first_warm.expect("one warm invocation ran"));
    }
    cold_times.sort();
    warm_times.sort();
    (median(&cold_times), median(&warm_times))
}

/// The sync and sweep tables.
async fn print_jobs() {
    let items = env_number("BENCH_SYNC_ITEMS", 1000);
    println!("\n## Sync cost\n");
    println!(
        "The ECD sync against the local FHIR server (pages of 200) and moto, over 20 clients; the first run applies {items} new reports and appointments. DynamoDB requests include the lease, the checkpoints and the outbox query; a run always rereads the newest resource of each kind (the checkpoint is inclusive).\n"
    );
    println!(
        "| run | resources read | seconds | resources per second | DynamoDB requests | per 1,000 resources | ECD requests |"
    );
    println!("|---|---|---|---|---|---|---|");
    for figure in jobs::sync(items).await {
        println!(
            "| {} | {} | {:.2} | {:.0} | {} | {:.0} | {} |",
            figure.what,
            figure.resources,
            figure.elapsed.as_secs_f64(),
            figure.resources as f64 / figure.elapsed.as_secs_f64(),
            figure.dynamo,
            figure.dynamo as f64 * 1000.0 / figure.resources.max(1) as f64,
            figure.ecd
        );
    }
    println!("\n## Sweep cost\n");
    println!(
        "The closure sweep over tables of different size with the same clients due (three accounts each: the primary holder and two authorised users). The request count must not grow with the table.\n"
    );
    println!(
        "| accounts in the table | clients due | accounts closed | seconds | DynamoDB requests |"
    );
    println!("|---|---|---|---|---|");
    for accounts in [1_000, 10_000] {
        let figure = jobs::sweep(accounts, 10).await;
        println!(
            "| {} | {} | {} | {:.2} | {} |",
            figure.accounts,
            figure.due_clients,
            figure.closed_accounts,
            figure.elapsed.as_secs_f64(),
            figure.dynamo
        );
    }
}
