//! SMTP with an OAuth2 login (SPEC §3.1 (r2) `[mail] auth = "xoauth2" | "oauthbearer"`).
//!
//! lettre's transport takes fixed credentials and knows XOAUTH2 only, and it cannot answer the
//! server's error challenge (a JSON status in a 334 reply) that a refused token gets. So for OAuth2
//! the connection is lettre's ([`AsyncSmtpConnection`]: TLS, EHLO, STARTTLS, MAIL/RCPT/DATA) and
//! the `AUTH` exchange is ours: one connection per message, a token asked for at each login, and
//! when the server refuses it (expired, say) once more with a token asked for again.

use std::time::Duration;

use base64::Engine as _;
use lettre::address::Envelope;
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use crate::mail::auth::{OAuth2, TokenError};
use crate::settings::Tls;

/// An SMTP server logged in to with an OAuth2 access token.
#[derive(Clone)]
pub struct OAuthSmtp {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    /// The server certificate's checks (STARTTLS or implicit TLS).
    pub params: Option<TlsParameters>,
    pub timeout: Duration,
    pub username: String,
    pub oauth: OAuth2,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum OAuthSmtpError {
    #[error("SMTP {server}: no access token for the {mechanism} login: {error}")]
    Token {
        server: String,
        mechanism: &'static str,
        error: TokenError,
    },
    #[error("the SMTP server {server} refused the {mechanism} login of {user} twice (the token was asked for again after the first refusal): {reason}; check that the token is for this account and has the SMTP scope, and that the server allows OAuth2 (SMTP AUTH) for it")]
    Refused {
        server: String,
        mechanism: &'static str,
        user: String,
        reason: String,
    },
    #[error("SMTP {server}: {error}")]
    Smtp {
        server: String,
        error: lettre::transport::smtp::Error,
    },
}

impl OAuthSmtpError {
    /// A 5xx reply to the message itself (MAIL, RCPT, DATA): sending it again will not help. A
    /// refused login or a missing token is the operator's to fix: retried, not given up.
    pub fn is_permanent(&self) -> bool {
        matches!(self, OAuthSmtpError::Smtp { error, .. } if error.is_permanent())
    }
}

enum AuthOutcome {
    Ok,
    Refused(String),
}

impl OAuthSmtp {
    fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn smtp(&self, error: lettre::transport::smtp::Error) -> OAuthSmtpError {
        OAuthSmtpError::Smtp {
            server: self.server(),
            error,
        }
    }

    /// Connects (TLS as configured) and says EHLO.
    async fn connect(&self) -> Result<AsyncSmtpConnection, OAuthSmtpError> {
        let hello = ClientId::default();
        let wrapper = match self.tls {
            Tls::Implicit => self.params.clone(),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &hello,
            wrapper,
            None,
        )
        .await
        .map_err(|e| self.smtp(e))?;
        if let (Tls::Starttls, Some(params)) = (self.tls, &self.params) {
            conn.starttls(params.clone(), &hello)
                .await
                .map_err(|e| self.smtp(e))?;
        }
        Ok(conn)
    }

    /// A connection logged in: a token from the source, and when it is refused, a second one.
    pub async fn login(&self) -> Result<AsyncSmtpConnection, OAuthSmtpError> {
        let mechanism = self.oauth.mechanism.name();
        let mut conn = self.connect().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self
                .oauth
                .source
                .token()
                .await
                .map_err(|error| OAuthSmtpError::Token {
                    server: self.server(),
                    mechanism,
                    error,
                })?;
            match self.auth(&mut conn, &token).await? {
                AuthOutcome::Ok => return Ok(conn),
                AuthOutcome::Refused(reason) if attempt >= 2 => {
                    conn.abort().await;
                    return Err(OAuthSmtpError::Refused {
                        server: self.server(),
                        mechanism,
                        user: self.username.clone(),
                        reason,
                    });
                }
                AuthOutcome::Refused(_) => tracing::info!(
                    server = %self.server(),
                    mechanism,
                    "the SMTP server refused the access token (expired?): asking the token source again"
                ),
            }
        }
    }

    /// One `AUTH <mechanism> <initial response>` exchange.
    async fn auth(
        &self,
        conn: &mut AsyncSmtpConnection,
        token: &crate::settings::Secret,
    ) -> Result<AuthOutcome, OAuthSmtpError> {
        let mechanism = self.oauth.mechanism;
        let b64 = base64::engine::general_purpose::STANDARD;
        let initial = mechanism.initial_response(&self.username, token, &self.host, self.port);
        let line = format!(
            "AUTH {} {}\r\n",
            mechanism.name(),
            b64.encode(initial.expose())
        );
        match conn.command(line).await {
            Ok(r) if r.has_code(235) => Ok(AuthOutcome::Ok),
            // The error challenge (a JSON status): acknowledge it, the failure reply follows.
            Ok(r) if r.has_code(334) => {
                let ack = format!("{}\r\n", b64.encode(mechanism.error_acknowledgement()));
                match conn.command(ack).await {
                    Err(e) if e.is_permanent() => Ok(AuthOutcome::Refused(e.to_string())),
                    Err(e) => Err(self.smtp(e)),
                    Ok(r) => Ok(AuthOutcome::Refused(format!(
                        "unexpected reply {} to the end of a refused login",
                        r.code()
                    ))),
                }
            }
            Ok(r) => Ok(AuthOutcome::Refused(format!(
                "unexpected reply {} to AUTH",
                r.code()
            ))),
            Err(e) if e.is_permanent() => Ok(AuthOutcome::Refused(e.to_string())),
            Err(e) => Err(self.smtp(e)),
        }
    }

    /// Logs in and sends one message.
    pub async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), OAuthSmtpError> {
        let mut conn = self.login().await?;
        let sent = conn.send(envelope, bytes).await;
        let _ = conn.quit().await;
        sent.map(|_| ()).map_err(|e| self.smtp(e))
    }

    /// `config check`: connect and log in, then QUIT.
    pub async fn check(&self) -> Result<(), OAuthSmtpError> {
        let mut conn = self.login().await?;
        let _ = conn.quit().await;
        Ok(())
    }
}
