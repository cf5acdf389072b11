//! Cold start: each function's release binary started against the local Runtime API, timed from
//! process start to its first poll for work (init) and to its first answered invocation.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::emulator::Emulator;

/// A function and the request its cold start is measured with: one its router answers without
/// a DynamoDB round trip, so that the figure is the function's own start, not moto's speed.
pub struct Subject {
    pub binary: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub body: Option<&'static str>,
    pub expect_status: u16,
    /// A scheduled function: invoked with an EventBridge scheduled event, and its first answer is
    /// a whole run of its job (against moto and the local ECD), so only its init compares with
    /// the floor's.
    pub scheduled: bool,
}

pub const SUBJECTS: &[Subject] = &[
    Subject {
        binary: "bench-floor",
        method: "GET",
        path: "/",
        body: None,
        expect_status: 200,
        scheduled: false,
    },
    Subject {
        binary: "auth-login",
        method: "POST",
        path: "/auth/login",
        body: Some("{}"),
        expect_status: 400,
        scheduled: false,
    },
    Subject {
        binary: "auth-verify",
        method: "POST",
        path: "/auth/verify",
        body: Some("{}"),
        expect_status: 400,
        scheduled: false,
    },
    Subject {
        binary: "auth-refresh",
        method: "POST",
        path: "/auth/refresh",
        body: Some("{}"),
        expect_status: 400,
        scheduled: false,
    },
    Subject {
        binary: "auth-sessions",
        method: "GET",
        path: "/auth/sessions",
        body: None,
        expect_status: 401,
        scheduled: false,
    },
    Subject {
        binary: "terms",
        method: "GET",
        path: "/terms",
        body: None,
        expect_status: 200,
        scheduled: false,
    },
    Subject {
        binary: "me",
        method: "GET",
        path: "/me",
        body: None,
        expect_status: 401,
        scheduled: false,
    },
    Subject {
        binary: "dossier-read",
        method: "GET",
        path: "/clients/C-1001/overview",
        body: None,
        expect_status: 401,
        scheduled: false,
    },
    Subject {
        binary: "care-plan-sign",
        method: "POST",
        path: "/clients/C-1001/care-plan/signatures",
        body: Some("{}"),
        expect_status: 401,
        scheduled: false,
    },
    Subject {
        binary: "reports-write",
        method: "POST",
        path: "/clients/C-1001/reports",
        body: Some("{}"),
        expect_status: 401,
        scheduled: false,
    },
    Subject {
        binary: "ecd-sync",
        method: "",
        path: "",
        body: None,
        expect_status: 0,
        scheduled: true,
    },
    Subject {
        binary: "closure-sweep",
        method: "",
        path: "",
        body: None,
        expect_status: 0,
        scheduled: true,
    },
];

/// A request that needs DynamoDB (an unknown challenge: one GetItem), for what init leaves to a
/// function's first such request: the SDK makes its HTTPS client on the first connection.
pub const FIRST_DYNAMO_REQUEST: Subject = Subject {
    binary: "auth-verify",
    method: "POST",
    path: "/auth/verify",
    body: Some(r#"{"challenge_id":"01KBENCH000000000000000000","code":"123456"}"#),
    expect_status: 401,
    scheduled: false,
};

/// An API Gateway HTTP API (v2) event for `subject`, or EventBridge's scheduled event.
pub fn event(subject: &Subject) -> String {
    if subject.scheduled {
        return serde_json::json!({
            "version": "0",
            "id": "bench",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-12-03T02:00:00Z",
            "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/bench"],
            "detail": {}
        })
        .to_string();
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{} {}", subject.method, subject.path),
        "rawPath": subject.path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": "bench"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": {"method": subject.method, "path": subject.path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "bench"},
            "requestId": "bench",
            "routeKey": format!("{} {}", subject.method, subject.path),
            "stage": "$default",
            "time": "03/Dec/2026:12:00:00 +0000",
            "timeEpoch": 1796299200000u64
        },
        "body": subject.body,
        "isBase64Encoded": false
    })
    .to_string()
}

pub struct ColdRun {
    pub init: Duration,
    pub first_answer: Duration,
    /// From handing over the first warm event to its answer, if one ran.
    pub first_warm: Option<Duration>,
    /// Peak resident memory in KiB over the cold start and the warm invocations, if any ran.
    pub peak_rss_kib: Option<u64>,
}

fn status_of(body: &str) -> Option<u16> {
    serde_json::from_str::<serde_json::Value>(body).ok()?["statusCode"]
        .as_u64()
        .map(|s| s as u16)
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// A function's process, stopped when dropped, on every way out of a run.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` once, answers one event cold and then `warm` more, and stops it.
pub async fn run_once(binary: &Path, subject: &Subject, warm: usize) -> Result<ColdRun, String> {
    let mut emulator = Emulator::start().await;
    let event = event(subject);
    emulator.push(&event);
    let started = std::time::Instant::now();
    let child = std::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", &emulator.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", subject.binary)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("RUST_LOG", "warn")
        // Lambda sets no AWS_CA_BUNDLE; a machine that points it at the system's roots would
        // have every function parse them all in init.
        .env_remove("AWS_CA_BUNDLE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("{}: {err}", binary.display()))?;
    let child = KillOnDrop(child);
    let answer = emulator
        .answer()
        .await
        .ok_or_else(|| format!("{} never answered", subject.binary))?;
    let expected = subject.scheduled || status_of(&answer.body) == Some(subject.expect_status);
    if answer.error || !expected {
        return Err(format!("{} answered {}", subject.binary, answer.body));
    }
    let init = emulator
        .first_poll()
        .ok_or("no poll before the answer")?
        .duration_since(started);
    let first_answer = answer.at.duration_since(started);
    let mut first_warm = None;
    for _ in 0..warm {
        let pushed = std::time::Instant::now();
        emulator.push(&event);
        let answer = emulator
            .answer()
            .await
            .ok_or("a warm invocation went unanswered")?;
        if answer.error {
            return Err(format!("{} failed warm: {}", subject.binary, answer.body));
        }
        first_warm.get_or_insert(answer.at.duration_since(pushed));
    }
    let peak = if warm > 0 {
        peak_rss_kib(child.0.id())
    } else {
        None
    };
    drop(child);
    Ok(ColdRun {
        init,
        first_answer,
        first_warm,
        peak_rss_kib: peak,
    })
}

#[cfg(test)]
mod tests {
    use super::SUBJECTS;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// A function that arrives without a subject here would be missing from BENCHMARKS.md.
    #[test]
    fn every_function_crate_is_measured_next_to_the_floor() {
        let functions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions");
        let crates: BTreeSet<String> = std::fs::read_dir(&functions)
            .expect("the functions folder")
            .map(|entry| entry.expect("a folder entry").file_name())
            .map(|name| name.into_string().expect("a UTF-8 crate name"))
            .collect();
        let (floor, measured) = SUBJECTS.split_first().expect("subjects");
        assert_eq!(floor.binary, "bench-floor", "the floor comes first");
        let measured: BTreeSet<String> = measured.iter().map(|s| s.binary.to_owned()).collect();
        assert_eq!(measured, crates);
    }
}
