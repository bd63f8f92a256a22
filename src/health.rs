//! `[http] listen` (SPEC §3.1): `GET /healthz` and `GET /metrics`, served with axum.
//!
//! `/healthz` is JSON: the database (reachable or not), each source's state, last success and
//! reconnects, and the outbox backlog. It answers 503 when the database cannot be reached within
//! two seconds — the daemon itself keeps running and retrying; only the answer changes.
//! `/metrics` is Prometheus text: submissions by status, rows by outcome, messages by final state,
//! outbox rows by status (the backlog is `pending` + `sending`), failures, source reconnects.
//! Totals come from the database (so several daemons report the same figures); per-process
//! figures (reconnects) are this daemon's.

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

/// What a running source reports (health, metrics).
#[derive(Debug, Default)]
pub struct SourceStats {
    pub connected: std::sync::atomic::AtomicBool,
    pub reconnects: AtomicU64,
    pub handled: AtomicU64,
    /// Unix seconds of the last successful pass; 0: none yet.
    pub last_success: AtomicU64,
    pub last_error: std::sync::Mutex<String>,
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

    /// The `/healthz` answer: (HTTP status, JSON body).
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
        let status = if db.is_ok() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
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
                "Rows of processed submissions, by outcome.",
                &rows,
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
        out
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
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

async fn metrics(State(h): State<Health>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        h.metrics().await,
    )
        .into_response()
}
