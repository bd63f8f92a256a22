//! A local stand-in for the Talkpush Leads API, answering as its public documentation describes
//! (see src/talkpush/client.rs): create (200 with the lead id and PIN, a "Duplicate Candidate
//! already exists" answer, 400 for missing parameters, 404 for an unknown campaign) and search
//! (`filter[query]` over id, name, email and phone, `filter[campaign_id]`, pages of 12), the API key
//! checked on every call (401 otherwise).
//!
//! Knobs: answer the next N calls 429 with `Retry-After`; answer the next N calls 503; create a lead
//! and then hold the answer (the client times out after the lead exists); leave the next N searches
//! blind (an index lagging behind). [`StandIn::leads_with_email`] counts leads per email, so tests
//! assert "exactly one lead".

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const API_KEY: &str = "test-key-0123456789";
pub const PREFIX: &str = "/api/talkpush_services";

#[derive(Debug, Clone, Default)]
pub struct Lead {
    pub id: u64,
    pub campaign_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub source: String,
    pub others: Value,
    pub created_at: String,
}

#[derive(Debug, Default)]
pub struct State {
    pub leads: Vec<Lead>,
    pub next_id: u64,
    pub campaigns: BTreeSet<String>,
    /// Answer the next N calls 429 with `Retry-After: retry_after_secs`.
    pub rate_limited: u32,
    pub retry_after_secs: u64,
    /// Answer the next N calls 503.
    pub unavailable: u32,
    /// Create the lead, then hold the answer this long.
    pub hold_create: Option<Duration>,
    /// The next N searches find nothing.
    pub blind_searches: u32,
    /// Calls received: (method, path without the prefix).
    pub calls: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct StandIn {
    pub base_url: String,
    pub state: Arc<Mutex<State>>,
}

impl StandIn {
    /// Listens on a free loopback port; `campaigns` are the ones it knows.
    pub async fn start(campaigns: &[&str]) -> StandIn {
        let state = Arc::new(Mutex::new(State {
            campaigns: campaigns.iter().map(|c| c.to_string()).collect(),
            next_id: 1000,
            ..State::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let state = shared.clone();
            async move { answer(state, method, uri, body).await }
        });
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        StandIn {
            base_url: format!("http://{addr}{PREFIX}"),
            state,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Adds a lead as if a recruiter had made it in Talkpush; its id.
    pub fn seed(&self, campaign: &str, first: &str, last: &str, email: &str, phone: &str) -> u64 {
        self.with(|s| {
            s.next_id += 1;
            let id = s.next_id;
            s.leads.push(Lead {
                id,
                campaign_id: campaign.into(),
                first_name: first.into(),
                last_name: last.into(),
                email: email.into(),
                phone: phone.into(),
                source: "Recruiter".into(),
                others: json!({}),
                created_at: "2026-11-02T01:00:00Z".into(),
            });
            id
        })
    }

    pub fn leads(&self) -> Vec<Lead> {
        self.with(|s| s.leads.clone())
    }

    pub fn leads_with_email(&self, email: &str) -> usize {
        self.with(|s| {
            s.leads
                .iter()
                .filter(|l| l.email.eq_ignore_ascii_case(email))
                .count()
        })
    }

    /// Create calls received.
    pub fn creates(&self) -> usize {
        self.with(|s| s.calls.iter().filter(|(m, _)| m == "POST").count())
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn answer(state: Arc<Mutex<State>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or(uri.path())
        .to_string();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let param = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
    {
        let mut s = state.lock().unwrap();
        s.calls.push((method.to_string(), path.clone()));
        if s.rate_limited > 0 {
            s.rate_limited -= 1;
            let mut r = reply(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"message": "Too many requests"}),
            );
            r.headers_mut().insert(
                "retry-after",
                s.retry_after_secs.to_string().parse().unwrap(),
            );
            return r;
        }
        if s.unavailable > 0 {
            s.unavailable -= 1;
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"message": "Service unavailable"}),
            );
        }
    }
    if param("api_key").as_deref() != Some(API_KEY) {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Invalid API key"}),
        );
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["campaign_invitations"]) => search(&state, &param),
        ("POST", ["campaigns", id, "campaign_invitations"]) => create(&state, id, &body).await,
        _ => reply(StatusCode::NOT_FOUND, json!({"message": "Not found"})),
    }
}

fn search(state: &Mutex<State>, param: &dyn Fn(&str) -> Option<String>) -> Response {
    let mut s = state.lock().unwrap();
    let page: usize = param("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let blind = s.blind_searches > 0;
    if blind {
        s.blind_searches -= 1;
    }
    let q = param("filter[query]").map(|q| q.to_lowercase());
    let campaign = param("filter[campaign_id]");
    let since = param("filter[creation_start_date]");
    let digits = |x: &str| x.chars().filter(char::is_ascii_digit).collect::<String>();
    let matching: Vec<&Lead> = s
        .leads
        .iter()
        .filter(|_| !blind)
        .filter(|l| campaign.as_deref().is_none_or(|c| c == l.campaign_id))
        .filter(|l| {
            since.as_deref().is_none_or(|d| {
                // DD-MM-YYYY, as the documentation says.
                let parts: Vec<&str> = d.split('-').collect();
                let iso = format!("{}-{}-{}", parts[2], parts[1], parts[0]);
                l.created_at[..10] >= *iso.as_str()
            })
        })
        .filter(|l| {
            q.as_deref().is_none_or(|q| {
                l.id.to_string() == q
                    || l.email.to_lowercase().contains(q)
                    || format!("{} {}", l.first_name, l.last_name)
                        .to_lowercase()
                        .contains(q)
                    || (!digits(q).is_empty() && digits(&l.phone).contains(&digits(q)))
            })
        })
        .collect();
    let total = matching.len();
    let pages = total.div_ceil(12);
    let candidates: Vec<Value> = matching
        .iter()
        .skip((page - 1) * 12)
        .take(12)
        .map(|l| {
            json!({
                "id": l.id,
                "candidate_id": l.id + 500_000,
                "campaign_id": l.campaign_id.parse::<u64>().unwrap_or(0),
                "first_name": l.first_name,
                "last_name": l.last_name,
                "email": l.email,
                "user_phone_number": l.phone,
                "source": l.source,
                "state": "pending",
                "folder": "Inbox",
                "created_at": l.created_at,
                "others": l.others,
            })
        })
        .collect();
    reply(
        StatusCode::OK,
        json!({"total": total, "current_page": page, "pages": pages, "candidates": candidates}),
    )
}

async fn create(state: &Mutex<State>, campaign: &str, body: &[u8]) -> Response {
    let hold = {
        let mut s = state.lock().unwrap();
        if !s.campaigns.contains(campaign) {
            return reply(
                StatusCode::NOT_FOUND,
                json!({"message": "Campaign not found"}),
            );
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return reply(StatusCode::BAD_REQUEST, json!({"message": "Bad request"}));
        };
        let ci = &v["campaign_invitation"];
        let text = |k: &str| ci[k].as_str().unwrap_or_default().trim().to_string();
        if v["api_key"].as_str() != Some(API_KEY)
            || text("first_name").is_empty()
            || text("last_name").is_empty()
            || text("email").is_empty()
        {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"message": "Bad request. Please make sure that required parameters were provided."}),
            );
        }
        let email = text("email");
        let phone = text("user_phone_number");
        let exists = s.leads.iter().any(|l| {
            l.campaign_id == campaign
                && (l.email.eq_ignore_ascii_case(&email) || (!phone.is_empty() && l.phone == phone))
        });
        if exists {
            return reply(
                StatusCode::OK,
                json!({"message": "Duplicate Candidate already exists"}),
            );
        }
        s.next_id += 1;
        let id = s.next_id;
        s.leads.push(Lead {
            id,
            campaign_id: campaign.to_string(),
            first_name: text("first_name"),
            last_name: text("last_name"),
            email,
            phone,
            source: text("source"),
            others: ci["others"].clone(),
            created_at: chrono::Utc::now().to_rfc3339(),
        });
        (id, s.hold_create)
    };
    if let Some(d) = hold.1 {
        tokio::time::sleep(d).await;
    }
    reply(
        StatusCode::OK,
        json!({"id": hold.0, "pin": format!("{:04}", hold.0 % 10_000),
               "message": "Candidate was succesfully added to the campaign"}),
    )
}
