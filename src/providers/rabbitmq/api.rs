//! RabbitMQ's management HTTP API as the provider speaks it: one blocking request at a
//! time, as the admin (or, to check a login, as a tenant), each bounded by the provider's
//! `connect_timeout`, each failure worded as one line and sorted.

use std::time::Duration;

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::providers::server::ServerSettings;
use crate::providers::{ProviderError, Sort};

/// What to do when the API does not answer at all: the plugin that serves it is off by default.
pub(super) const ENABLE_PLUGIN: &str = "is RabbitMQ running there with its management plugin enabled \
     (rabbitmq-plugins enable rabbitmq_management)?";

/// What an admin refused for want of rights should be given.
const ADMIN_TAG: &str = "give the user of providers.rabbitmq.url the administrator tag \
     (rabbitmqctl set_user_tags USER administrator) or name another one there";

/// The management API of one server, and what the operation is doing (for its errors).
pub(super) struct Api<'a> {
    server: &'a ServerSettings,
    agent: ureq::Agent,
    /// `scheme://host:port[/prefix]`, without credentials or a trailing slash.
    base: String,
    /// The admin's `Authorization` header.
    admin: String,
    /// How long one request may take in all, connecting included.
    timeout: Duration,
    pub(super) doing: String,
}

/// One answer: its status and its body, parsed when it is JSON.
struct Answer {
    status: u16,
    body: Value,
}

/// What a path segment keeps as it is: letters, digits and `-._~` (RFC 3986's unreserved).
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A path segment (vhost, user, parameter name) as the API and AMQP URLs take it: `/` is `%2F`.
pub(super) fn segment(name: &str) -> String {
    utf8_percent_encode(name, ENCODED).to_string()
}

/// The `Authorization` header of a basic-auth login.
fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

impl<'a> Api<'a> {
    /// The API behind the admin URL, each request bounded by `timeout`.
    pub(super) fn new(server: &'a ServerSettings, timeout: Duration, doing: String) -> Api<'a> {
        let mut url = server.url.clone();
        let decoded = |text: &str| percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned();
        let admin = basic(&decoded(url.username()), &decoded(url.password().unwrap_or_default()));
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        let base = url.as_str().trim_end_matches('/').to_string();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(server.connect_timeout()))
            .timeout_global(Some(timeout))
            // The management API is an operator's address: no proxy from the environment.
            .proxy(None)
            .build()
            .into();
        Api { server, agent, base, admin, timeout, doing }
    }

    /// How long one request may take in all.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same API for another operation.
    pub(super) fn doing(self, doing: String) -> Api<'a> {
        Api { doing, ..self }
    }

    /// Sends one request as the login `auth`; the status and body of any answer.
    fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
        auth: &str,
    ) -> Result<Answer, ProviderError> {
        let (agent, url, auth, body) =
            (self.agent.clone(), format!("{}{path}", self.base), auth.to_string(), body.cloned());
        let sent = self.server.within(self.timeout, &self.doing, move || {
            let mut response = match (method, body) {
                ("PUT", Some(body)) => agent.put(&url).header("Authorization", &auth).send_json(body),
                ("POST", Some(body)) => agent.post(&url).header("Authorization", &auth).send_json(body),
                ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
                _ => agent.get(&url).header("Authorization", &auth).call(),
            }?;
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string()?;
            Ok::<_, ureq::Error>(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) })
        })?;
        sent.map_err(|err| self.unreachable(&err))
    }

    /// Sends one request as the admin; any answer but a success or a 404 is an error.
    /// Every request made here is idempotent, so one the server failed inside (a 5xx, as
    /// when a vhost is made again while the broker is still stopping its deleted one) is
    /// sent again, twice at most, before its failure is reported.
    fn admin(&self, method: &'static str, path: &str, body: Option<&Value>) -> Result<Option<Value>, ProviderError> {
        let mut answer = self.send(method, path, body, &self.admin)?;
        for pause in [100, 400] {
            if answer.status < 500 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(pause));
            answer = self.send(method, path, body, &self.admin)?;
        }
        match answer.status {
            200..=299 => Ok(Some(answer.body)),
            404 => Ok(None),
            _ => Err(self.refused(&answer)),
        }
    }

    /// `GET path` as the admin; `None` when there is no such thing.
    pub(super) fn get(&self, path: &str) -> Result<Option<Value>, ProviderError> {
        self.admin("GET", path, None)
    }

    /// `GET path` of a list as the admin (empty when there is no such thing).
    pub(super) fn list(&self, path: &str) -> Result<Vec<Value>, ProviderError> {
        Ok(match self.get(path)? {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        })
    }

    /// `PUT path` with `body` as the admin: makes or converges what the path names.
    pub(super) fn put(&self, path: &str, body: &Value) -> Result<(), ProviderError> {
        match self.admin("PUT", path, Some(body))? {
            Some(_) => Ok(()),
            None => Err(self.permanent(&format!("the API has no {path}: is this RabbitMQ's management API?"))),
        }
    }

    /// `POST path` with `body` as the admin.
    pub(super) fn post(&self, path: &str, body: &Value) -> Result<(), ProviderError> {
        match self.admin("POST", path, Some(body))? {
            Some(_) => Ok(()),
            None => Err(self.permanent(&format!("the API has no {path}: is the vhost there?"))),
        }
    }

    /// `DELETE path` as the admin; whether there was something to delete.
    pub(super) fn delete(&self, path: &str) -> Result<bool, ProviderError> {
        Ok(self.admin("DELETE", path, None)?.is_some())
    }

    /// Whether `user` logs in with `password`: the API takes the password, whatever it
    /// then lets the user see (a user without management tags is refused after logging
    /// in, as "Not management user"; a wrong password is "Login failed").
    pub(super) fn logs_in(&self, user: &str, password: &str) -> Result<bool, ProviderError> {
        let answer = self.send("GET", "/api/whoami", None, &basic(user, password))?;
        let reason = answer.body["reason"].as_str().unwrap_or_default();
        match answer.status {
            200 => Ok(true),
            401 if reason.contains("Not management user") => Ok(true),
            401 => Ok(false),
            _ => Err(self.refused(&answer).hiding(password)),
        }
    }

    pub(super) fn permanent(&self, what: &str) -> ProviderError {
        self.server.error(Sort::Permanent, &self.doing, what, "")
    }

    pub(super) fn transient(&self, what: &str) -> ProviderError {
        self.server.error(Sort::Transient, &self.doing, what, "")
    }

    /// A request that got no answer: most often the server or its plugin is down.
    fn unreachable(&self, err: &ureq::Error) -> ProviderError {
        let transient = |what: &str, fix: &str| self.server.error(Sort::Transient, &self.doing, what, fix);
        match err {
            ureq::Error::Timeout(_) => {
                let what = format!("no answer within {}", humantime::format_duration(self.timeout));
                transient(&what, "is the server up and not overloaded?")
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                transient("connection refused", ENABLE_PLUGIN)
            }
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::BodyStalled => transient(&err.to_string(), ENABLE_PLUGIN),
            _ => self.server.error(Sort::Permanent, &self.doing, &err.to_string(), ""),
        }
    }

    /// An answer that refuses the request, in the API's own words (they quote no password).
    fn refused(&self, answer: &Answer) -> ProviderError {
        let reason = match &answer.body {
            Value::Object(fields) => fields.get("reason").or(fields.get("error")).map(|r| match r {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }),
            Value::String(text) if !text.is_empty() => Some(text.chars().take(200).collect()),
            _ => None,
        };
        let said = format!("the API answered {}: {}", answer.status, reason.unwrap_or_default());
        let error = |sort, fix: &str| self.server.error(sort, &self.doing, said.trim_end_matches([':', ' ']), fix);
        match answer.status {
            401 if said.contains("Login failed") => {
                error(Sort::Permanent, &format!("fix the user or password in {}", self.server.key("url")))
            }
            401 | 403 => error(Sort::Permanent, ADMIN_TAG),
            408 | 429 | 500..=599 => error(Sort::Transient, ""),
            _ => error(Sort::Permanent, ""),
        }
    }
}
