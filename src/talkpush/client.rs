//! A thin client of the Talkpush Leads API (SPEC §11 (r2)), as its public documentation describes:
//!
//! - `POST {base}/campaigns/{id}/campaign_invitations?api_key=…` with the JSON body
//!   `{"api_key": …, "campaign_invitation": {first_name, last_name, email, user_phone_number, source,
//!   others}}`: 200 with the lead's id (or, for a lead that exists, a "Duplicate Candidate already
//!   exists" answer), 400 missing parameters, 404 unknown campaign.
//! - `GET {base}/campaign_invitations?api_key=…&filter[query]=…&filter[campaign_id]=…&page=N`:
//!   `{total, current_page, pages, candidates: [...]}`, 12 leads a page.
//!
//! One HTTP/1.1 connection per call (hyper; TLS with rustls and the ring provider, trusting the
//! public roots and `SSL_CERT_FILE`), the whole call bounded by the configured timeout. Nothing
//! here decides what a failure means for a push: see [`crate::talkpush::worker`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpStream;

use super::settings::{check_base_url, TalkpushSettings};
use crate::settings::Secret;

/// Leads a search page holds (the documentation's figure).
pub const PAGE_SIZE: usize = 12;

/// The longest answer body read (a search page of 12 leads is a few kB).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Why a call gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer within the timeout. `sent`: the request may have reached Talkpush (it may have
    /// acted on it).
    #[error("Talkpush did not answer within {secs} s")]
    Timeout { secs: u64, sent: bool },
    /// Talkpush could not be reached (nothing was sent).
    #[error("cannot reach Talkpush at {host}: {message}")]
    Connect { host: String, message: String },
    /// The connection broke after the request was (maybe) sent.
    #[error("the connection to Talkpush broke: {0}")]
    Broken(String),
    /// An answer other than 200. `body`: its first bytes (the API's own words).
    #[error("Talkpush answered {status}: {body}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
        body: String,
    },
    /// A 200 whose body is not what the documentation describes.
    #[error("Talkpush answered 200 with an unexpected body: {0}")]
    Unexpected(String),
    #[error("{0}")]
    Setup(String),
}

/// A lead as a search returns it (the fields the portal uses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lead {
    pub id: String,
    pub campaign_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: Option<String>,
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub leads: Vec<Lead>,
    pub current_page: u32,
    /// Pages in all (0 when nothing matched).
    pub pages: u32,
    pub total: u64,
}

/// What a create answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The new lead's id (`None`: the answer named none).
    Lead(Option<String>),
    /// "Duplicate Candidate already exists".
    Duplicate,
}

/// The lead a create sends.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Invitation {
    pub first_name: String,
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_phone_number: Option<String>,
    pub source: String,
    pub others: serde_json::Map<String, Value>,
}

/// Search filters besides the query and campaign (`filter[creation_start_date]`, say).
pub type Filters<'a> = &'a [(&'a str, String)];

#[derive(Clone)]
pub struct Client {
    base: url::Url,
    api_key: Secret,
    api_secret: Option<Secret>,
    timeout: Duration,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn from_settings(s: &TalkpushSettings) -> Result<Client, CallError> {
        let base = check_base_url(&s.base_url).map_err(CallError::Setup)?;
        let api_key = s
            .api_key
            .clone()
            .filter(|k| !k.expose().is_empty())
            .ok_or_else(|| {
                CallError::Setup(
                    "[talkpush] has no API key: set api_key_env to a variable holding it".into(),
                )
            })?;
        let tls = if base.scheme() == "https" {
            let roots = crate::tls::root_store().map_err(|e| CallError::Setup(e.to_string()))?;
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        Ok(Client {
            base,
            api_key,
            api_secret: s.api_secret.clone(),
            timeout: s.timeout(),
            tls,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The base URL (no key in it): for messages.
    pub fn base(&self) -> &str {
        self.base.as_str()
    }

    /// `base` + `path` with the key (and secret) and `query` as query parameters.
    fn url(&self, path: &str, query: &[(&str, String)]) -> url::Url {
        let mut url = self.base.clone();
        let joined = format!("{}/{}", url.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api_key", self.api_key.expose());
            if let Some(s) = &self.api_secret {
                q.append_pair("api_secret", s.expose());
            }
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// One page of the leads matching `query` (an email, a phone, a name or a lead id), in
    /// `campaign` when given. Pages count from 1.
    pub async fn search(
        &self,
        query: Option<&str>,
        campaign: Option<&str>,
        page: u32,
        filters: Filters<'_>,
    ) -> Result<Page, CallError> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(q) = query {
            params.push(("filter[query]", q.to_string()));
        }
        if let Some(c) = campaign {
            params.push(("filter[campaign_id]", c.to_string()));
        }
        params.push(("page", page.max(1).to_string()));
        params.extend(filters.iter().cloned());
        let url = self.url("campaign_invitations", &params);
        let body = self.call(Method::GET, &url, None).await?;
        parse_page(&body)
    }

    /// Creates `lead` in `campaign`.
    pub async fn create(&self, campaign: &str, lead: &Invitation) -> Result<Created, CallError> {
        let url = self.url(
            &format!(
                "campaigns/{}/campaign_invitations",
                encode_segment(campaign)
            ),
            &[],
        );
        let mut body = serde_json::json!({
            "api_key": self.api_key.expose(),
            "campaign_invitation": lead,
        });
        if let Some(s) = &self.api_secret {
            body["api_secret"] = Value::String(s.expose().to_string());
        }
        let answer = self
            .call(Method::POST, &url, Some(body.to_string().into_bytes()))
            .await?;
        parse_created(&answer)
    }

    /// One authenticated call that proves the key works (`config check`): a search for nothing
    /// in particular, first page.
    pub async fn probe(&self) -> Result<u64, CallError> {
        let page = self
            .search(
                None,
                None,
                1,
                &[("filter[query]", "agency-portal-check".into())],
            )
            .await?;
        Ok(page.total)
    }

    /// Sends one request on a connection of its own; the body of a 200 answer.
    async fn call(
        &self,
        method: Method,
        url: &url::Url,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, CallError> {
        let secs = self.timeout.as_secs();
        let sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let exchange = self.exchange(method, url, body, sent.clone());
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout {
                secs,
                sent: sent.load(std::sync::atomic::Ordering::SeqCst),
            }),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        url: &url::Url,
        body: Option<Vec<u8>>,
        sent: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Bytes, CallError> {
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let connect_err = |e: &dyn std::fmt::Display| CallError::Connect {
            host: format!("{host}:{port}"),
            message: e.to_string(),
        };
        let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| connect_err(&e))?;
        let _ = tcp.set_nodelay(true);
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::ACCEPT, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("agency-portal/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| CallError::Setup(e.to_string()))?;
        match &self.tls {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| connect_err(&e))?;
                let stream = tls.connect(name, tcp).await.map_err(|e| connect_err(&e))?;
                send(TokioIo::new(stream), req, &sent).await
            }
            None => send(TokioIo::new(tcp), req, &sent).await,
        }
    }
}

async fn send<IO>(
    io: IO,
    req: Request<Full<Bytes>>,
    sent: &std::sync::atomic::AtomicBool,
) -> Result<Bytes, CallError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| CallError::Broken(e.to_string()))?;
    let driver = tokio::spawn(conn);
    sent.store(true, std::sync::atomic::Ordering::SeqCst);
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| CallError::Broken(e.to_string()))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| CallError::Broken(e.to_string()))?
            .to_bytes();
        if status == StatusCode::OK {
            Ok(body)
        } else {
            Err(CallError::Status {
                status: status.as_u16(),
                retry_after,
                body: snippet(&body),
            })
        }
    }
    .await;
    driver.abort();
    result
}

/// `Retry-After`: seconds, or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or_default())
}

/// The first bytes of an answer, on one line, for messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(300).collect();
    if one_line.chars().count() > 300 {
        out.push('…');
    }
    out
}

fn encode_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A JSON value as text: strings as they are, numbers printed.
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_page(body: &[u8]) -> Result<Page, CallError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| CallError::Unexpected(format!("{e}")))?;
    let Some(list) = v.get("candidates").and_then(Value::as_array) else {
        return Err(CallError::Unexpected(format!(
            "no `candidates` list in {}",
            snippet(body)
        )));
    };
    let num = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let leads = list
        .iter()
        .filter_map(|c| {
            Some(Lead {
                id: text_of(c.get("id"))?,
                campaign_id: text_of(c.get("campaign_id")),
                first_name: text_of(c.get("first_name")).unwrap_or_default(),
                last_name: text_of(c.get("last_name")).unwrap_or_default(),
                email: text_of(c.get("email")),
                phone: text_of(c.get("user_phone_number")),
                created_at: text_of(c.get("created_at")),
            })
        })
        .collect();
    Ok(Page {
        leads,
        current_page: num("current_page") as u32,
        pages: num("pages") as u32,
        total: num("total"),
    })
}

/// A create's 200: the lead id (as `id`, `lead_id`, `campaign_invitation_id` or inside
/// `campaign_invitation`), or the duplicate answer. The documentation shows no example body, so
/// these are all read.
fn parse_created(body: &[u8]) -> Result<Created, CallError> {
    let text = String::from_utf8_lossy(body);
    if text.to_ascii_lowercase().contains("duplicate candidate") {
        return Ok(Created::Duplicate);
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|_| CallError::Unexpected(snippet(body)))?;
    let id = text_of(v.get("id"))
        .or_else(|| text_of(v.get("lead_id")))
        .or_else(|| text_of(v.get("campaign_invitation_id")))
        .or_else(|| {
            v.get("campaign_invitation")
                .and_then(|c| text_of(c.get("id")))
        })
        .or_else(|| v.get("data").and_then(|c| text_of(c.get("id"))));
    Ok(Created::Lead(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn answers_are_read_as_documented() {
        assert_eq!(
            parse_created(br#"{"id": 123, "pin": "4567"}"#).unwrap(),
            Created::Lead(Some("123".into()))
        );
        assert_eq!(
            parse_created(br#"{"message": "Duplicate Candidate already exists"}"#).unwrap(),
            Created::Duplicate
        );
        let page = parse_page(
            br#"{"total": 13, "current_page": 2, "pages": 2, "candidates": [
                {"id": 9, "campaign_id": 40123, "first_name": "Ana", "last_name": "Cruz",
                 "email": "ana@example.test", "user_phone_number": "+639171234567"}]}"#,
        )
        .unwrap();
        assert_eq!(page.pages, 2);
        assert_eq!(page.leads[0].id, "9");
        assert_eq!(page.leads[0].campaign_id.as_deref(), Some("40123"));
        assert!(parse_page(b"<html>").is_err());
    }
}
