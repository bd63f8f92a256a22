//! The IMAP mailbox (SPEC §3.1 `kind = "imap"`, §4.1), with async-imap.
//!
//! A session: connect (TLS as configured), log in, create the three folders if missing, select the
//! inbox, remember its UIDVALIDITY. Then, until shutdown: search for every message in the inbox
//! (everything there is unprocessed: handled messages leave it), handle each — `RFC822.SIZE` first,
//! so an oversized message is refused from its header alone, then `BODY.PEEK[]` so nothing is
//! marked read before it is done — and move it (`UID MOVE`, or COPY + `\Deleted` + EXPUNGE) only
//! after its outcome is committed. Then wait: IDLE when the server has it, re-issued at most every
//! 5 minutes (and ended every `check_ms` when set), else a poll. After every wake, search again from
//! scratch.
//!
//! Any error ends the session; the next one starts after a capped, jittered backoff. At most one
//! session per mailbox runs across daemons (a Postgres advisory lock, [`Store::mailbox_lock`]).
//! Every command is bounded by a timeout: only IDLE has one of its own in async-imap.
//!
//! [`Store::mailbox_lock`]: crate::store::Store::mailbox_lock

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use chrono::Utc;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{max_message_bytes, Handled, IntakeError, MailIntake};
use crate::daemon::backoff::{Backoff, Retries};
use crate::intake::mailbox::maildir::Folder;
use crate::mail::auth::{OAuth2, TokenError};
use crate::settings::{Secret, Tls};

/// IDLE is re-issued at least this often (RFC 2177 asks for less than 29 minutes; NATs forget sooner).
pub const IDLE_REISSUE: Duration = Duration::from_secs(5 * 60);
/// Every IMAP command gets this long.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection: plain TCP or TLS, as one type.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}
type Conn = Box<dyn Io>;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ImapOptions {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: String,
    pub login: Login,
    pub folder: String,
    pub processed_folder: String,
    pub rejected_folder: String,
    pub failed_folder: String,
    /// Between searches when the server has no IDLE.
    pub poll: Duration,
    pub idle_reissue: Duration,
    /// `check_ms`: IDLE is also ended this often to search, not waiting for the server's notice
    /// (Dovecot sends it half a second after a delivery). `None`: IDLE alone.
    pub idle_check: Option<Duration>,
}

impl ImapOptions {
    fn folder_for(&self, f: Folder) -> &str {
        match f {
            Folder::Processed => &self.processed_folder,
            Folder::Rejected => &self.rejected_folder,
            Folder::Failed => &self.failed_folder,
        }
    }

    /// The ledger's name for this mailbox.
    pub fn mailbox_name(&self) -> String {
        format!(
            "imap://{}@{}:{}/{}",
            self.username, self.host, self.port, self.folder
        )
    }
}

/// How the session logs in.
#[derive(Debug, Clone)]
pub enum Login {
    /// `LOGIN user password`.
    Password(Secret),
    /// `AUTHENTICATE XOAUTH2 | OAUTHBEARER` with an access token (see [`crate::mail::auth`]).
    OAuth2(OAuth2),
}

/// The backoff between sessions: 1 s, 2 s, 4 s … at most 60 s, jittered (see [`Backoff::jittered`]).
pub fn session_retries() -> Retries {
    Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).retries()
}

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS with {0}: {1}")]
    Tls(String, std::io::Error),
    #[error("{0}")]
    Trust(#[source] crate::tls::TrustError),
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("IMAP connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the IMAP server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the server refused the login of {0}: {1}")]
    Login(String, async_imap::error::Error),
    #[error("the IMAP server {server} refused the {mechanism} login of {user} twice (the token command was run again after the first refusal): {reason}; check that the token is for this mailbox and has the IMAP scope, and that the server allows OAuth2 logins")]
    OAuth2Refused {
        server: String,
        mechanism: &'static str,
        user: String,
        reason: String,
    },
    #[error("IMAP {server}: no access token for the {mechanism} login: {error}")]
    Token {
        server: String,
        mechanism: &'static str,
        error: TokenError,
    },
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("the mailbox lock was lost (its database connection closed)")]
    LockLost,
}

async fn timed<T, E: Into<ImapError>>(
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(ImapError::Timeout(COMMAND_TIMEOUT)),
    }
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, crate::tls::TrustError> {
    let roots = crate::tls::root_store()?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn tls_wrap(host: &str, tcp: TcpStream) -> Result<Conn, ImapError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| ImapError::Tls(host.into(), std::io::Error::other(e)))?;
    let connector = tls_connector().map_err(ImapError::Trust)?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| ImapError::Tls(host.into(), e))?;
    Ok(Box::new(tls))
}

impl ImapOptions {
    /// The mailbox `[intake.mailbox]` (kind "imap") names.
    pub fn from_settings(settings: &crate::settings::Mailbox) -> ImapOptions {
        ImapOptions {
            host: settings.host.clone(),
            port: settings.port.unwrap_or(match settings.tls {
                Tls::Implicit => 993,
                _ => 143,
            }),
            tls: settings.tls,
            username: settings.username.clone(),
            login: match OAuth2::from_settings(
                settings.auth,
                &settings.token_command,
                &settings.token_file,
            ) {
                Some(oauth) => Login::OAuth2(oauth),
                None => Login::Password(settings.password.clone().unwrap_or_default()),
            },
            folder: settings.folder.clone(),
            processed_folder: settings.processed_folder.clone(),
            rejected_folder: settings.rejected_folder.clone(),
            failed_folder: settings.failed_folder.clone(),
            poll: match settings.check_ms {
                0 => Duration::from_secs(30),
                ms => Duration::from_millis(ms),
            },
            idle_reissue: IDLE_REISSUE,
            idle_check: (settings.check_ms > 0).then(|| Duration::from_millis(settings.check_ms)),
        }
    }
}

/// Connects and logs in.
pub async fn connect(o: &ImapOptions) -> Result<Session<Conn>, ImapError> {
    let addr = format!("{}:{}", o.host, o.port);
    let tcp = timed(async {
        TcpStream::connect((o.host.as_str(), o.port))
            .await
            .map_err(|e| ImapError::Connect(addr.clone(), e))
    })
    .await?;
    let _ = tcp.set_nodelay(true);
    let conn: Conn = match o.tls {
        Tls::None => Box::new(tcp),
        Tls::Implicit => tls_wrap(&o.host, tcp).await?,
        Tls::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            timed(async { client.read_response().await.map_err(ImapError::from) }).await?;
            timed(client.run_command_and_check_ok("STARTTLS", None)).await?;
            tls_wrap(&o.host, client.into_inner()).await?
        }
    };
    let mut client = async_imap::Client::new(conn);
    if o.tls != Tls::Starttls {
        timed(async { client.read_response().await.map_err(ImapError::from) }).await?;
    }
    match &o.login {
        Login::Password(password) => {
            timed(async {
                client
                    .login(&o.username, password.expose())
                    .await
                    .map_err(|(e, _)| ImapError::Login(o.username.clone(), e))
            })
            .await
        }
        Login::OAuth2(oauth) => authenticate(o, oauth, client).await,
    }
}

/// `AUTHENTICATE` with a token from the token source; when the server refuses it (expired, say),
/// once more with a token asked for again, on the same connection.
async fn authenticate(
    o: &ImapOptions,
    oauth: &OAuth2,
    mut client: async_imap::Client<Conn>,
) -> Result<Session<Conn>, ImapError> {
    let server = format!("{}:{}", o.host, o.port);
    let mechanism = oauth.mechanism.name();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let token = oauth
            .source
            .token()
            .await
            .map_err(|error| ImapError::Token {
                server: server.clone(),
                mechanism,
                error,
            })?;
        let sasl = Sasl {
            first: Some(
                oauth
                    .mechanism
                    .initial_response(&o.username, &token, &o.host, o.port),
            ),
            then: oauth.mechanism.error_acknowledgement(),
        };
        let r = tokio::time::timeout(COMMAND_TIMEOUT, client.authenticate(mechanism, sasl)).await;
        let (error, back) = match r {
            Err(_) => return Err(ImapError::Timeout(COMMAND_TIMEOUT)),
            Ok(Ok(session)) => return Ok(session),
            Ok(Err(e)) => e,
        };
        let refused = matches!(
            error,
            async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)
        );
        if !refused {
            return Err(error.into());
        }
        if attempt >= 2 {
            return Err(ImapError::OAuth2Refused {
                server,
                mechanism,
                user: o.username.clone(),
                reason: error.to_string(),
            });
        }
        tracing::info!(
            server = %server,
            mechanism,
            "the IMAP server refused the access token (expired?): asking the token source again"
        );
        client = back;
    }
}

/// The client side of an OAuth2 SASL exchange: the initial response to the server's first (empty)
/// challenge, then the acknowledgement of its error challenge, if it sends one.
struct Sasl {
    first: Option<Secret>,
    then: &'static [u8],
}

impl async_imap::Authenticator for Sasl {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        match self.first.take() {
            Some(first) => first.expose().as_bytes().to_vec(),
            None => self.then.to_vec(),
        }
    }
}

/// The IMAP source: sessions until shutdown.
pub struct ImapSource {
    pub intake: MailIntake,
    pub options: ImapOptions,
    pub stats: Arc<crate::daemon::health::SourceStats>,
}

impl ImapSource {
    pub fn new(intake: MailIntake, options: ImapOptions) -> ImapSource {
        ImapSource {
            intake,
            options,
            stats: Arc::default(),
        }
    }

    /// Runs sessions until `shutdown` completes. A message in hand is finished (committed and
    /// moved) before it returns; waiting and connecting are simply abandoned.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let shutdown = shared(shutdown);
        let mut backoff = session_retries();
        let name = self.options.mailbox_name();
        loop {
            let lock = tokio::select! {
                _ = shutdown.clone() => return,
                l = self.intake.pipeline.store.mailbox_lock(&name) => l,
            };
            let wait = match lock {
                Ok(Some(mut lock)) => {
                    let r = self
                        .session(&mut lock, shutdown.clone(), &mut backoff, false)
                        .await;
                    self.stats.connected.store(false, Ordering::Relaxed);
                    drop(lock);
                    match r {
                        Ok(()) => return,
                        Err(e) => {
                            let d = backoff.failed_jittered();
                            tracing::warn!(
                                mailbox = %self.options.mailbox_name(),
                                "IMAP session ended: {e}; reconnecting in {d:.1?}"
                            );
                            self.stats.failed(&e.to_string());
                            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                            d
                        }
                    }
                }
                // Another daemon has this mailbox: try again later, it may stop.
                Ok(None) => Duration::from_secs(5),
                Err(e) => {
                    let d = backoff.failed_jittered();
                    tracing::warn!("IMAP intake: the mailbox lock: {e}; again in {d:.1?}");
                    d
                }
            };
            tokio::select! {
                _ = shutdown.clone() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass over the inbox (`run --once`): every message there now is handled, then it returns.
    pub async fn once(&self) -> Result<(), ImapError> {
        let Some(mut lock) = self
            .intake
            .pipeline
            .store
            .mailbox_lock(&self.options.mailbox_name())
            .await
            .map_err(IntakeError::from)?
        else {
            tracing::info!("another daemon holds the IMAP mailbox: it handles the messages");
            return Ok(());
        };
        let never = shared(std::future::pending());
        self.session(&mut lock, never, &mut session_retries(), true)
            .await
    }

    /// One session. `Ok`: shut down; `Err`: reconnect.
    async fn session(
        &self,
        lock: &mut crate::store::mail_ledger::MailboxLock,
        shutdown: futures::future::Shared<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
        backoff: &mut Retries,
        once: bool,
    ) -> Result<(), ImapError> {
        let o = &self.options;
        let mut session = connect(o).await?;
        let caps = timed(session.capabilities()).await?;
        let can_idle = caps.has_str("IDLE");
        let can_move = caps.has_str("MOVE");
        let can_uidplus = caps.has_str("UIDPLUS");
        for f in [&o.processed_folder, &o.rejected_folder, &o.failed_folder] {
            // "Already exists" is the usual answer: a real problem shows at the first move.
            let _ = timed(session.create(f)).await;
        }
        let mailbox = timed(session.select(&o.folder)).await?;
        let uidvalidity = mailbox.uid_validity;
        self.stats.connected.store(true, Ordering::Relaxed);
        tracing::info!(
            mailbox = %o.mailbox_name(),
            uidvalidity,
            idle = can_idle,
            "IMAP session started"
        );
        loop {
            if !lock.alive().await {
                return Err(ImapError::LockLost);
            }
            // What the server reported so far is covered by this search.
            new_mail_reported(&mut session);
            let uids: BTreeSet<u32> = timed(session.uid_search("ALL"))
                .await?
                .into_iter()
                .collect();
            if !uids.is_empty() {
                tracing::debug!(messages = uids.len(), "inbox searched");
            }
            for uid in uids {
                if futures::FutureExt::now_or_never(shutdown.clone()).is_some() {
                    let _ = timed(session.logout()).await;
                    return Ok(());
                }
                let handled = self.one(&mut session, uidvalidity, uid).await?;
                if let Some(h) = handled {
                    self.intake.committed(&h);
                    let target = o.folder_for(h.folder).to_string();
                    move_message(&mut session, uid, &target, can_move, can_uidplus).await?;
                    self.intake
                        .pipeline
                        .store
                        .ledger_moved(h.ledger_id, Utc::now())
                        .await
                        .map_err(IntakeError::from)?;
                    self.stats.handled.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(uid, "message moved");
                }
            }
            backoff.succeeded();
            self.stats.succeeded();
            if once {
                let _ = timed(session.logout()).await;
                return Ok(());
            }
            // Mail that arrived while we were busy was reported during our own commands; IDLE only
            // tells of what comes after it starts. Search again before waiting.
            if new_mail_reported(&mut session) {
                continue;
            }
            if can_idle {
                let mut idle = session.idle();
                timed(idle.init()).await?;
                let (wait, stop) = idle.wait_with_timeout(o.idle_reissue);
                // IDLE's own timeout restarts with every keepalive the server sends ("* OK Still
                // here"), so the re-issue is bounded here: whatever slipped past is found then.
                let until = o
                    .idle_check
                    .map_or(o.idle_reissue, |c| c.min(o.idle_reissue));
                let stopped = tokio::select! {
                    r = wait => {
                        let news = matches!(r?, async_imap::extensions::idle::IdleResponse::NewData(_));
                        tracing::debug!(news, "IDLE ended by the server");
                        false
                    }
                    _ = tokio::time::sleep(until) => false,
                    _ = shutdown.clone() => true,
                };
                drop(stop);
                session = timed(idle.done()).await?;
                if stopped {
                    let _ = timed(session.logout()).await;
                    return Ok(());
                }
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(o.poll) => {}
                    _ = shutdown.clone() => {
                        let _ = timed(session.logout()).await;
                        return Ok(());
                    }
                }
                timed(session.noop()).await?;
            }
        }
    }

    /// Fetches and handles one message. `None`: it vanished meanwhile.
    async fn one(
        &self,
        session: &mut Session<Conn>,
        uidvalidity: Option<u32>,
        uid: u32,
    ) -> Result<Option<Handled>, ImapError> {
        let intake = self.intake.current();
        let max = max_message_bytes(&intake.pipeline.limits);
        let size = fetch_one(session, uid, "(UID RFC822.SIZE)")
            .await?
            .and_then(|f| f.size);
        let Some(size) = size else {
            return Ok(None);
        };
        let result = if u64::from(size) > max {
            let Some(header) = fetch_one(session, uid, "(UID BODY.PEEK[HEADER])")
                .await?
                .and_then(|f| f.header().map(<[u8]>::to_vec))
            else {
                return Ok(None);
            };
            intake
                .handle_oversized(header, u64::from(size), uidvalidity, Some(uid))
                .await
        } else {
            let Some(raw) = fetch_one(session, uid, "(UID BODY.PEEK[])")
                .await?
                .and_then(|f| f.body().map(<[u8]>::to_vec))
            else {
                return Ok(None);
            };
            tracing::debug!(uid, bytes = raw.len(), "message fetched");
            intake.handle(raw, uidvalidity, Some(uid)).await
        };
        match result {
            Ok(h) => Ok(Some(h)),
            // The database is away: end the session, try again after the backoff.
            Err(IntakeError::Store(e)) => Err(IntakeError::Store(e).into()),
            // Our code failed on it: counted; it stays in the inbox and is tried again (three
            // tries, then the failed folder).
            Err(e) => {
                tracing::warn!(uid, "message not handled: {e}");
                Ok(None)
            }
        }
    }
}

/// Drains the responses the server sent unasked; `true` when one announced new mail (EXISTS,
/// RECENT). Draining also keeps async-imap's bounded channel from filling.
fn new_mail_reported(session: &mut Session<Conn>) -> bool {
    use async_imap::types::UnsolicitedResponse;
    let mut any = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        any |= matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    any
}

async fn fetch_one(
    session: &mut Session<Conn>,
    uid: u32,
    query: &str,
) -> Result<Option<async_imap::types::Fetch>, ImapError> {
    // Read the whole response stream, always: an unread stream breaks the next command.
    let fetched: Vec<async_imap::types::Fetch> = timed(async {
        let stream = session.uid_fetch(uid.to_string(), query).await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?;
    Ok(fetched.into_iter().find(|f| f.uid == Some(uid)))
}

async fn move_message(
    session: &mut Session<Conn>,
    uid: u32,
    folder: &str,
    can_move: bool,
    can_uidplus: bool,
) -> Result<(), ImapError> {
    let set = uid.to_string();
    if can_move {
        return timed(session.uid_mv(&set, folder)).await;
    }
    timed(session.uid_copy(&set, folder)).await?;
    timed(async {
        let stream = session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?;
    if can_uidplus {
        timed(async {
            let stream = session.uid_expunge(&set).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    } else {
        timed(async {
            let stream = session.expunge().await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    }
    Ok(())
}

/// A shutdown future that many places can wait on.
pub fn shared(
    f: impl Future<Output = ()> + Send + 'static,
) -> futures::future::Shared<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> {
    use futures::FutureExt;
    let boxed: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(f);
    boxed.shared()
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn check_ms_is_zero_or_at_least_50_and_sets_the_imap_checks() {
        use crate::settings::check_file;
        use std::path::Path;
        figment::Jail::expect_with(|jail| {
            let mailbox = "[intake.mailbox]\nkind = \"imap\"\nhost = \"h\"\nusername = \"u\"\n";
            jail.create_file("a.toml", &format!("{mailbox}check_ms = 10\n"))?;
            let e = crate::settings::load(Path::new("a.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("check_ms = 10") && e.contains("at least 50"),
                "{e}"
            );
            jail.create_file("b.toml", &format!("{mailbox}check_ms = 200\n"))?;
            let s = crate::settings::load(Path::new("b.toml")).unwrap();
            let o = ImapOptions::from_settings(&s.intake.mailbox);
            assert_eq!(o.idle_check, Some(Duration::from_millis(200)));
            assert_eq!(o.poll, Duration::from_millis(200));
            assert!(check_file(Path::new("b.toml")).is_ok());
            jail.create_file("c.toml", mailbox)?;
            let s = crate::settings::load(Path::new("c.toml")).unwrap();
            let o = ImapOptions::from_settings(&s.intake.mailbox);
            assert_eq!((o.idle_check, o.poll), (None, Duration::from_secs(30)));
            Ok(())
        });
    }
}
