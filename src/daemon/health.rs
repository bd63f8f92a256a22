//! `[http] listen` (SPEC §3.1, §10 (r2)): `GET /healthz`, `GET /readyz` and `GET /metrics`, served
//! with axum.
//!
//! `/healthz` is liveness: 200 while the process answers (its loops run in it), with JSON of the
//! database (reachable or not), each source's state, last success and reconnects, and the outbox
//! backlog. `/readyz` is readiness: 503 with the reasons while the database does not answer within
//! two seconds, or a source or the outbox has been failing for longer than [`FAILING_TOO_LONG`];
//! the daemon itself keeps running and retrying, only the answer changes.
//! `/metrics` is Prometheus text. Counters only go up: submissions by status, rows by the outcome
//! they were decided with (a `review` row stays counted as `review` once an owner decides it; the
//! decisions are a counter of their own), messages by final state, failures, source reconnects.
//! Gauges: outbox rows by status (the backlog is `pending` + `sending`), the review queue, each
//! source's last success time, and `agency_portal_build_info`. Totals come from the database (so
//! several daemons report the same figures); per-process figures (reconnects, last successes) are
//! this daemon's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::outcome::Outcome;
use crate::store::Store;

/// How long a health check waits for the database.
const DB_TIMEOUT: Duration = Duration::from_secs(2);

/// A source or the outbox failing for longer than this makes the daemon not ready (SPEC §10 (r2)).
pub const FAILING_TOO_LONG: Duration = Duration::from_secs(300);

/// What a running source reports (health, metrics).
#[derive(Debug, Default)]
pub struct SourceStats {
    pub connected: std::sync::atomic::AtomicBool,
    pub reconnects: AtomicU64,
    pub handled: AtomicU64,
    /// Unix seconds of the last successful pass; 0: none yet.
    pub last_success: AtomicU64,
    pub last_error: std::sync::Mutex<String>,
    /// Unix seconds since when it has been failing without a success in between; 0: it is not.
    pub failing_since: AtomicU64,
}

fn unix_now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

impl SourceStats {
    /// A pass went well: connected, its time the last success, no longer failing.
    pub fn succeeded(&self) {
        self.connected.store(true, Ordering::Relaxed);
        self.last_success.store(unix_now(), Ordering::Relaxed);
        self.failing_since.store(0, Ordering::Relaxed);
    }

    /// Something failed: not connected, why (no personal data: errors name places, not people),
    /// and failing since the first failure after the last success.
    pub fn failed(&self, why: &str) {
        self.connected.store(false, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = why.to_string();
        let _ = self.failing_since.compare_exchange(
            0,
            unix_now(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// How long it has been failing at `now` (unix seconds); zero when it is not.
    pub fn failing_for(&self, now: u64) -> Duration {
        match self.failing_since.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => Duration::from_secs(now.saturating_sub(since)),
        }
    }
}

/// A source the daemon runs, as health and metrics see it.
#[derive(Clone)]
pub struct Source {
    /// `email`, `drop`.
    pub kind: &'static str,
    /// `imap://…`, `maildir:…`, the drop folder's path.
    pub name: String,
    pub stats: Arc<SourceStats>,
}

#[derive(Clone)]
pub struct Health {
    pub store: Store,
    pub sources: Vec<Source>,
    /// The outbox worker's sends, as a source's passes.
    pub outbox: Arc<SourceStats>,
    pub started: chrono::DateTime<chrono::Utc>,
}

fn unix_to_rfc3339(secs: u64) -> Option<String> {
    (secs > 0)
        .then(|| chrono::DateTime::from_timestamp(secs as i64, 0))
        .flatten()
        .map(|t| t.to_rfc3339())
}

impl Health {
    fn sources_json(&self) -> Vec<serde_json::Value> {
        self.sources
            .iter()
            .map(|s| {
                let connected = s.stats.connected.load(Ordering::Relaxed);
                json!({
                    "kind": s.kind,
                    "name": s.name,
                    "state": if connected { "running" } else { "reconnecting" },
                    "last_success": unix_to_rfc3339(s.stats.last_success.load(Ordering::Relaxed)),
                    "reconnects": s.stats.reconnects.load(Ordering::Relaxed),
                    "handled": s.stats.handled.load(Ordering::Relaxed),
                    "last_error": s.stats.last_error.lock().map(|e| e.clone()).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// The `/readyz` answer: 503 with the reasons while the database does not answer, or a source
    /// or the outbox has been failing for longer than [`FAILING_TOO_LONG`].
    pub async fn readyz(&self) -> (StatusCode, serde_json::Value) {
        let mut reasons: Vec<String> = Vec::new();
        match tokio::time::timeout(DB_TIMEOUT, self.store.totals()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => reasons.push(format!("the database does not answer: {e}")),
            Err(_) => reasons.push(format!(
                "the database does not answer within {DB_TIMEOUT:?}"
            )),
        }
        let now = unix_now();
        let named = self
            .sources
            .iter()
            .map(|s| (format!("the {} source {}", s.kind, s.name), &s.stats))
            .chain(std::iter::once(("the outbox".to_string(), &self.outbox)));
        for (what, stats) in named {
            let failing = stats.failing_for(now);
            if failing > FAILING_TOO_LONG {
                let why = stats
                    .last_error
                    .lock()
                    .map(|e| e.clone())
                    .unwrap_or_default();
                reasons.push(format!(
                    "{what} has been failing for {} s: {why}",
                    failing.as_secs()
                ));
            }
        }
        let ready = reasons.is_empty();
        let status = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (
            status,
            json!({"status": if ready { "ready" } else { "not ready" }, "reasons": reasons}),
        )
    }

    /// The `/healthz` answer: (HTTP status, JSON body). Liveness: 200 whenever the process
    /// answers; what it says of the database is for people (readiness is `/readyz`).
    pub async fn healthz(&self) -> (StatusCode, serde_json::Value) {
        let totals = tokio::time::timeout(DB_TIMEOUT, self.store.totals()).await;
        let (db, backlog, failed) = match totals {
            Ok(Ok(t)) => {
                let n = |s: &str| count(&t.outbox, s);
                (Ok(()), Some(n("pending") + n("sending")), Some(n("failed")))
            }
            Ok(Err(e)) => (Err(e.to_string()), None, None),
            Err(_) => (Err(format!("no answer within {DB_TIMEOUT:?}")), None, None),
        };
        let status = StatusCode::OK;
        let body = json!({
            "status": if db.is_ok() { "ok" } else { "unavailable" },
            "database": match &db {
                Ok(()) => json!({"state": "ok"}),
                Err(e) => json!({"state": "unreachable", "error": e}),
            },
            "sources": self.sources_json(),
            "outbox": {"backlog": backlog, "failed": failed},
            "started": self.started.to_rfc3339(),
        });
        (status, body)
    }

    /// The `/metrics` answer (Prometheus text format 0.0.4).
    pub async fn metrics(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, i64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        };
        metric(
            "agency_portal_build_info",
            "gauge",
            "The running build: its version, always 1.",
            &[(format!("version=\"{}\"", env!("CARGO_PKG_VERSION")), 1)],
        );
        let totals = tokio::time::timeout(DB_TIMEOUT, self.store.totals()).await;
        let up = matches!(totals, Ok(Ok(_)));
        metric(
            "agency_portal_database_up",
            "gauge",
            "Whether the database answered this scrape.",
            &[(String::new(), i64::from(up))],
        );
        if let Ok(Ok(t)) = totals {
            let by = |label: &str, v: &[(String, i64)]| {
                v.iter()
                    .map(|(k, n)| (format!("{label}=\"{k}\""), *n))
                    .collect::<Vec<_>>()
            };
            metric(
                "agency_portal_submissions_total",
                "counter",
                "Submissions (files) recorded, by status.",
                &by("status", &t.submissions),
            );
            let rows: Vec<(String, i64)> = Outcome::ALL
                .iter()
                .zip(t.rows)
                .map(|(o, n)| (format!("outcome=\"{}\"", o.as_str()), n))
                .collect();
            metric(
                "agency_portal_rows_total",
                "counter",
                "Rows of processed submissions, by the outcome they were decided with (a review \
                 row stays counted as review once decided).",
                &rows,
            );
            metric(
                "agency_portal_review_decisions_total",
                "counter",
                "Owners' decisions on review rows.",
                &[
                    ("decision=\"accepted\"".into(), t.reviews_accepted),
                    ("decision=\"rejected\"".into(), t.reviews_rejected),
                ],
            );
            metric(
                "agency_portal_review_queue",
                "gauge",
                "Review rows waiting for an owner.",
                &[(String::new(), t.reviews_pending)],
            );
            metric(
                "agency_portal_messages_total",
                "counter",
                "Incoming email messages, by final state.",
                &by("status", &t.mail),
            );
            metric(
                "agency_portal_outbox_messages",
                "gauge",
                "Outgoing mail in the outbox, by status (backlog: pending + sending).",
                &by("status", &t.outbox),
            );
            let count = |v: &[(String, i64)], s: &str| {
                v.iter()
                    .filter(|(k, _)| k == s)
                    .map(|(_, n)| *n)
                    .sum::<i64>()
            };
            metric(
                "agency_portal_failures_total",
                "counter",
                "Failures: unreadable files, poison messages, mail given up on.",
                &[
                    ("what=\"file\"".into(), count(&t.submissions, "failed")),
                    ("what=\"message\"".into(), count(&t.mail, "failed")),
                    ("what=\"outgoing\"".into(), count(&t.outbox, "failed")),
                ],
            );
        }
        if let Ok(Ok(t)) = tokio::time::timeout(DB_TIMEOUT, self.store.push_totals()).await {
            let mut by_result: Vec<(String, i64)> = ["created", "found", "duplicate"]
                .iter()
                .map(|r| {
                    let n = t
                        .by_result
                        .iter()
                        .filter(|(k, _)| k == r)
                        .map(|(_, n)| *n)
                        .sum();
                    (format!("result=\"{r}\""), n)
                })
                .collect();
            by_result.push(("result=\"failed\"".into(), t.failures));
            metric(
                "agency_portal_talkpush_pushes_total",
                "counter",
                "Candidates pushed to Talkpush, by result: created, found by the search before a \
                 create, answered as a duplicate, or failed permanently (each failure counted).",
                &by_result,
            );
            let queue: Vec<(String, i64)> = ["pending", "pushing", "synced", "failed"]
                .iter()
                .map(|s| {
                    let n = t
                        .by_status
                        .iter()
                        .filter(|(k, _)| k == s)
                        .map(|(_, n)| *n)
                        .sum();
                    (format!("status=\"{s}\""), n)
                })
                .collect();
            metric(
                "agency_portal_talkpush_queue",
                "gauge",
                "Talkpush pushes by status (backlog: pending + pushing).",
                &queue,
            );
        }
        let reconnects: Vec<(String, i64)> = self
            .sources
            .iter()
            .map(|s| {
                (
                    format!("source=\"{}\"", s.kind),
                    s.stats.reconnects.load(Ordering::Relaxed) as i64,
                )
            })
            .collect();
        metric(
            "agency_portal_source_reconnects_total",
            "counter",
            "Reconnects of this daemon's sources since it started.",
            &reconnects,
        );
        let last: Vec<(String, i64)> = self
            .sources
            .iter()
            .map(|s| (&s.kind, s.name.as_str(), &s.stats))
            .chain(std::iter::once((&"outbox", "", &self.outbox)))
            .map(|(kind, name, stats)| {
                (
                    format!("source=\"{kind}\",name=\"{}\"", label_value(name)),
                    stats.last_success.load(Ordering::Relaxed) as i64,
                )
            })
            .collect();
        metric(
            "agency_portal_source_last_success_seconds",
            "gauge",
            "When each of this daemon's sources (and its outbox worker) last succeeded, in seconds \
             since the epoch; 0: not yet.",
            &last,
        );
        out
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(self)
    }

    /// Serves until `shutdown`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "health and metrics at /healthz and /metrics");
        }
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// A Prometheus label value: backslashes, quotes and line breaks escaped.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The count of `status` in a (status, count) list; 0 when absent.
fn count(by_status: &[(String, i64)], status: &str) -> i64 {
    by_status
        .iter()
        .filter(|(k, _)| k == status)
        .map(|(_, n)| *n)
        .sum()
}

async fn healthz(State(h): State<Health>) -> Response {
    let (status, body) = h.healthz().await;
    (status, axum::Json(body)).into_response()
}

async fn readyz(State(h): State<Health>) -> Response {
    let (status, body) = h.readyz().await;
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(h): State<Health>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        h.metrics().await,
    )
        .into_response()
}
