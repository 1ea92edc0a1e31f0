//! Mosquitto's dynamic security plugin as the provider speaks to it: one MQTT session as
//! the admin per operation, commands published to `$CONTROL/dynamic-security/v1` and
//! their answers read from its `/response` topic, every wait (the login and each answer)
//! bounded by the provider's `connect_timeout`; and a tenant's login, to see that its
//! password is taken. Each failure is worded as one line and sorted.

use std::time::{Duration, Instant};

use rumqttc::{
    Client, ConnectReturnCode, Connection, ConnectionError, Event, MqttOptions, Packet, QoS, RecvTimeoutError,
    SubscribeReasonCode,
};
use serde_json::{json, Value};

use crate::providers::server::ServerSettings;
use crate::providers::{ProviderError, Sort};

/// The topic the plugin takes its commands on.
pub(super) const CONTROL: &str = "$CONTROL/dynamic-security/v1";
/// The topic it answers on.
const RESPONSE: &str = "$CONTROL/dynamic-security/v1/response";

/// What to set up when the plugin gives no answer.
pub(super) const SET_UP: &str = "load the dynamic security plugin in mosquitto.conf \
     (plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so and plugin_opt_config_file), \
     and give the admin of providers.mqtt.url a role that may publish to and subscribe to \
     $CONTROL/dynamic-security/# (as mosquitto_ctrl dynsec init makes it)";

/// The largest answer taken: a `listClients` of a broker with many clients.
const LARGEST: usize = 16 << 20;

/// One command's answer: its `error`, or its `data`.
pub(super) type Reply = Result<Value, String>;

/// An admin session on the control topic, and what the operation is doing (for errors).
pub(super) struct Control<'a> {
    server: &'a ServerSettings,
    client: Client,
    connection: Connection,
    timeout: Duration,
    /// What marks this session's commands (`correlationData`), and how many it sent.
    tag: String,
    sent: u64,
    pub(super) doing: String,
}

/// An MQTT session as `user` with `client_id`, not yet connected.
pub(super) fn session(
    server: &ServerSettings,
    host: &str,
    (user, password): (&str, &str),
    client_id: &str,
) -> (Client, Connection) {
    let mut options = MqttOptions::new(client_id, host, server.port());
    options.set_credentials(user, password);
    options.set_clean_session(true);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_max_packet_size(LARGEST, LARGEST);
    Client::new(options, 16)
}

/// What waiting for the server gave.
pub(super) enum Waited {
    Event(Event),
    /// The server refused the login (a wrong user, password or client id).
    Refused(ConnectReturnCode),
}

/// The admin's user and password in the admin URL, percent-decoded.
fn admin_login(server: &ServerSettings) -> (String, String) {
    let decoded = |text: &str| percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned();
    (decoded(server.url.username()), decoded(server.url.password().unwrap_or_default()))
}

/// Waits for the next event until `deadline`; a timeout names `timeout`, the time waited.
pub(super) fn next(
    server: &ServerSettings,
    connection: &mut Connection,
    (deadline, timeout): (Instant, Duration),
    doing: &str,
) -> Result<Waited, ProviderError> {
    let left = deadline.saturating_duration_since(Instant::now());
    let transient = |what: &str, fix: &str| server.error(Sort::Transient, doing, what, fix);
    match connection.recv_timeout(left) {
        Ok(Ok(event)) => Ok(Waited::Event(event)),
        Ok(Err(ConnectionError::ConnectionRefused(code))) => match code {
            ConnectReturnCode::BadUserNamePassword
            | ConnectReturnCode::NotAuthorized
            | ConnectReturnCode::BadClientId => Ok(Waited::Refused(code)),
            other => Err(transient(&format!("the server refused the connection ({other:?})"), "")),
        },
        Ok(Err(ConnectionError::Io(io))) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(transient("connection refused", "is mosquitto running there?"))
        }
        Ok(Err(ConnectionError::NetworkTimeout)) | Err(RecvTimeoutError::Timeout) => {
            let what = format!("no answer within {}", humantime::format_duration(timeout));
            Err(transient(&what, "is the server up and not overloaded?"))
        }
        Ok(Err(err)) => Err(transient(&err.to_string(), "")),
        Err(RecvTimeoutError::Disconnected) => Err(transient("the connection closed", "")),
    }
}

/// Connects as `login` and waits for the server's answer to the login; `false` when it
/// refused the login.
pub(super) fn connect(
    server: &ServerSettings,
    connection: &mut Connection,
    timeout: Duration,
    doing: &str,
) -> Result<Option<ConnectReturnCode>, ProviderError> {
    let deadline = Instant::now() + timeout;
    loop {
        match next(server, connection, (deadline, timeout), doing)? {
            Waited::Event(Event::Incoming(Packet::ConnAck(_))) => return Ok(None),
            Waited::Event(_) => {}
            Waited::Refused(code) => return Ok(Some(code)),
        }
    }
}

/// Whether `user` logs in with `password` under its own client id (the only one its
/// client takes): the server answers within `timeout`, or it is an error. A session the
/// app holds under that client id is ended by the login, as MQTT lets one connection
/// hold a client id.
pub(super) fn logs_in(
    server: &ServerSettings,
    (user, password): (&str, &str),
    timeout: Duration,
    doing: &str,
) -> Result<bool, ProviderError> {
    let host = server.host()?;
    let (client, mut connection) = session(server, &host, (user, password), user);
    let refused = connect(server, &mut connection, timeout, doing).map_err(|err| err.hiding(password))?;
    let _ = client.try_disconnect();
    let _ = connection.recv_timeout(Duration::from_millis(100));
    Ok(refused.is_none())
}

impl<'a> Control<'a> {
    /// Logs in as the admin and subscribes to the plugin's answers, each wait bounded by
    /// `timeout`.
    pub(super) fn open(
        server: &'a ServerSettings,
        timeout: Duration,
        doing: String,
    ) -> Result<Control<'a>, ProviderError> {
        let host = server.host()?;
        let (user, password) = admin_login(server);
        // A client id of its own: several hosts and threads work at once, and a second
        // session under one id would end the first.
        let tag = format!("addons-{:016x}", rand::random::<u64>());
        let (client, mut connection) = session(server, &host, (&user, &password), &tag);
        let refused = connect(server, &mut connection, timeout, &doing).map_err(|err| err.hiding(&password))?;
        if let Some(code) = refused {
            let what = format!("the server refused the admin's login ({code:?})");
            let fix = format!(
                "check the user and password in {} (the admin client of the dynamic security plugin, \
                 not restricted to one client id); is the plugin loaded? {SET_UP}",
                server.key("url")
            );
            return Err(server.error(Sort::Permanent, &doing, &what, &fix));
        }
        let mut control = Control { server, client, connection, timeout, tag, sent: 0, doing };
        control.client.subscribe(RESPONSE, QoS::AtLeastOnce).map_err(|_| control.transient("the session closed"))?;
        let deadline = Instant::now() + timeout;
        loop {
            match control.next(deadline)? {
                Event::Incoming(Packet::SubAck(ack)) => {
                    if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                        let what = format!("the admin may not subscribe to {RESPONSE}");
                        return Err(server.error(Sort::Permanent, &control.doing, &what, SET_UP));
                    }
                    return Ok(control);
                }
                _ => continue,
            }
        }
    }

    /// The same session for another operation.
    pub(super) fn doing(mut self, doing: String) -> Control<'a> {
        self.doing = doing;
        self
    }

    /// How long one wait may take.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    fn next(&mut self, deadline: Instant) -> Result<Event, ProviderError> {
        match next(self.server, &mut self.connection, (deadline, self.timeout), &self.doing)? {
            Waited::Event(event) => Ok(event),
            Waited::Refused(code) => Err(self.transient(&format!("the server ended the session ({code:?})"))),
        }
    }

    /// Sends `commands` in one message and waits for their answers, in order. A command
    /// holds no secret in any error (passwords are sent, never quoted back).
    pub(super) fn run(&mut self, commands: &[Value]) -> Result<Vec<Reply>, ProviderError> {
        self.sent += 1;
        let tag = format!("{}-{}", self.tag, self.sent);
        let marked: Vec<Value> = commands
            .iter()
            .map(|command| {
                let mut command = command.clone();
                command["correlationData"] = json!(tag);
                command
            })
            .collect();
        let payload = json!({ "commands": marked }).to_string();
        self.client
            .publish(CONTROL, QoS::AtLeastOnce, false, payload)
            .map_err(|_| self.transient("the session closed"))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let event = match self.next(deadline) {
                Err(ProviderError::Transient(line)) if line.contains("no answer within") => {
                    let what = format!(
                        "the dynamic security plugin gave no answer on {RESPONSE} within {}",
                        humantime::format_duration(self.timeout)
                    );
                    return Err(self.server.error(Sort::Transient, &self.doing, &what, SET_UP));
                }
                other => other?,
            };
            let Event::Incoming(Packet::Publish(message)) = event else { continue };
            if message.topic != RESPONSE {
                continue;
            }
            let Ok(answer) = serde_json::from_slice::<Value>(&message.payload) else { continue };
            let responses = answer["responses"].as_array().cloned().unwrap_or_default();
            let ours: Vec<&Value> = responses.iter().filter(|r| r["correlationData"] == json!(tag)).collect();
            if ours.is_empty() {
                continue;
            }
            if ours.len() != commands.len() {
                return Err(self.transient(&format!("{} commands sent, {} answered", commands.len(), ours.len())));
            }
            return Ok(ours
                .into_iter()
                .map(|response| match response["error"].as_str() {
                    Some(error) => Err(error.to_string()),
                    None => Ok(response["data"].clone()),
                })
                .collect());
        }
    }

    /// Runs one command.
    pub(super) fn one(&mut self, command: Value) -> Result<Reply, ProviderError> {
        let mut replies = self.run(&[command])?;
        Ok(replies.remove(0))
    }

    /// Runs one command that must succeed, or that may fail only with `done` (what the
    /// plugin answers when the command's effect is there already: "Role already
    /// exists", "Client not found"); whether it did something.
    pub(super) fn must(&mut self, command: Value, done: &str) -> Result<bool, ProviderError> {
        let name = command["command"].as_str().unwrap_or_default().to_string();
        match self.one(command)? {
            Ok(_) => Ok(true),
            Err(error) if !done.is_empty() && error == done => Ok(false),
            Err(error) => Err(self.refused(&name, &error)),
        }
    }

    /// A command the plugin refused, in its words (which quote no password).
    pub(super) fn refused(&self, command: &str, error: &str) -> ProviderError {
        let sort = match error {
            "Internal error" => Sort::Transient,
            _ => Sort::Permanent,
        };
        self.server.error(sort, &self.doing, &format!("the plugin refused {command}: {error}"), "")
    }

    pub(super) fn transient(&self, what: &str) -> ProviderError {
        self.server.error(Sort::Transient, &self.doing, what, "")
    }
}

impl Drop for Control<'_> {
    /// Says goodbye, so the broker logs a disconnection rather than a lost client.
    fn drop(&mut self) {
        if self.client.try_disconnect().is_ok() {
            let _ = self.connection.recv_timeout(Duration::from_millis(50));
        }
    }
}
