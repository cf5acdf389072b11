//! A local Lambda Runtime API: hands a function binary its events and takes its answers, the way
//! the Lambda service does, and notes when the binary first asks for work.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{Notify, mpsc};

#[derive(Default)]
struct Queue {
    events: VecDeque<(String, String)>,
    first_poll: Option<Instant>,
    issued: u64,
}

#[derive(Clone)]
struct Shared {
    queue: Arc<Mutex<Queue>>,
    arrived: Arc<Notify>,
    answers: mpsc::UnboundedSender<Answer>,
}

/// What the function sent back for one event.
pub struct Answer {
    pub at: Instant,
    pub body: String,
    pub error: bool,
}

pub struct Emulator {
    pub address: String,
    shared: Shared,
    answers: mpsc::UnboundedReceiver<Answer>,
    server: tokio::task::JoinHandle<()>,
}

async fn next(State(shared): State<Shared>) -> (HeaderMap, String) {
    loop {
        let waiting = shared.arrived.notified();
        {
            let mut queue = shared.queue.lock().expect("queue lock");
            queue.first_poll.get_or_insert_with(Instant::now);
            if let Some((id, body)) = queue.events.pop_front() {
                let mut headers = HeaderMap::new();
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("after 1970")
                    .as_millis()
                    + 30_000;
                headers.insert(
                    "lambda-runtime-aws-request-id",
                    HeaderValue::from_str(&id).expect("ascii"),
                );
                headers.insert(
                    "lambda-runtime-deadline-ms",
                    HeaderValue::from(deadline as u64),
                );
                headers.insert(
                    "lambda-runtime-invoked-function-arn",
                    HeaderValue::from_static(
                        "arn:aws:lambda:eu-west-1:123456789012:function:bench",
                    ),
                );
                headers.insert(
                    "lambda-runtime-trace-id",
                    HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
                );
                return (headers, body);
            }
        }
        waiting.await;
    }
}

async fn respond(State(shared): State<Shared>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let _ = shared.answers.send(Answer {
        at: Instant::now(),
        body: String::from_utf8_lossy(&body).into_owned(),
        error: false,
    });
    StatusCode::ACCEPTED
}

async fn fail(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    let _ = shared.answers.send(Answer {
        at: Instant::now(),
        body: String::from_utf8_lossy(&body).into_owned(),
        error: true,
    });
    StatusCode::ACCEPTED
}

impl Emulator {
    pub async fn start() -> Self {
        let (sender, answers) = mpsc::unbounded_channel();
        let shared = Shared {
            queue: Arc::default(),
            arrived: Arc::new(Notify::new()),
            answers: sender,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(fail))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address = listener.local_addr().expect("bound").to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            address,
            shared,
            answers,
            server,
        }
    }

    pub fn push(&self, body: &str) {
        let mut queue = self.shared.queue.lock().expect("queue lock");
        queue.issued += 1;
        let id = format!("bench-{}", queue.issued);
        queue.events.push_back((id, body.to_owned()));
        drop(queue);
        self.shared.arrived.notify_waiters();
    }

    pub async fn answer(&mut self) -> Option<Answer> {
        tokio::time::timeout(std::time::Duration::from_secs(20), self.answers.recv())
            .await
            .ok()
            .flatten()
    }

    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.queue.lock().expect("queue lock").first_poll
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}
