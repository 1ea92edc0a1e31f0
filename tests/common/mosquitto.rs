//! The mqtt provider's server in the tests: a private Mosquitto with the dynamic
//! security plugin, started once per test process on a port of its own from a temp dir
//! (the machine's broker on 1883 is left as it is), its default ACL access denying what
//! is not granted; an MQTT client as an app (or an attacker) uses one; and what the
//! broker holds for an addon, asked of the plugin with commands marked as its own.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rumqttc::{Client, Connection, ConnectionError, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};

/// The plugin the broker loads: `ADDONS_TEST_MOSQUITTO_PLUGIN`, else Debian's path.
fn plugin() -> PathBuf {
    std::env::var_os("ADDONS_TEST_MOSQUITTO_PLUGIN")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"), PathBuf::from)
}

/// The password of the private broker's observer: a client that may subscribe to every
/// topic (`#`) and receive what is published there, to see what a tenant's publish reached.
pub const OBSERVER: (&str, &str) = ("observer", "observer-secret");

/// The private broker: its admin URL, or why it could not start.
static BROKER: OnceLock<Result<String, String>> = OnceLock::new();

/// The admin URL of this process's private broker (`mqtt://admin:PASSWORD@127.0.0.1:PORT`),
/// or `None` with a notice when mosquitto or its plugin is not installed and servers are
/// not required (with ADDONS_TEST_REQUIRE_SERVERS=1 that fails the test).
pub fn broker(skipping: &str) -> Option<String> {
    let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    match BROKER.get_or_init(private) {
        Ok(url) => Some(url.clone()),
        Err(problem) => {
            assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but {problem}");
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "NOTICE: skipping {skipping}: {problem}");
            None
        }
    }
}

/// Starts a broker of its own for a test that changes the broker's settings (it lives
/// as long as the test process); `None` as [`broker`] gives it.
pub fn own_broker(skipping: &str) -> Option<String> {
    broker(skipping)?;
    Some(private().expect("a second private mosquitto starts as the first did"))
}

/// Starts the broker on a free port of 127.0.0.1 with a dynamic-security config made by
/// `mosquitto_ctrl dynsec init`, on a thread that lives as long as the process, so the
/// broker (bound to that thread by PR_SET_PDEATHSIG) ends with it.
fn private() -> Result<String, String> {
    for program in ["mosquitto", "mosquitto_ctrl"] {
        if !on_path(program) {
            return Err(format!("{program} is not installed (apt-get install mosquitto mosquitto-clients)"));
        }
    }
    let plugin = plugin();
    if !plugin.is_file() {
        return Err(format!(
            "the dynamic security plugin {} is not there (set ADDONS_TEST_MOSQUITTO_PLUGIN)",
            plugin.display()
        ));
    }
    let dir = tempfile::Builder::new().prefix("addons-mosquitto").tempdir().map_err(|err| err.to_string())?.keep();
    // Mosquitto started as root drops to its own user, which must write its log and
    // save the plugin's config here.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).map_err(|err| err.to_string())?;
    let password = format!("admin-{}", addons::names::generate_addon_id());
    let config = dir.join("dynamic-security.json");
    let init = Command::new("mosquitto_ctrl")
        .args(["dynsec", "init"])
        .arg(&config)
        .args(["admin", &password])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("mosquitto_ctrl: {err}"))?;
    if !init.status.success() {
        return Err(format!("mosquitto_ctrl dynsec init failed: {}", String::from_utf8_lossy(&init.stderr)));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|err| err.to_string())?
        .port();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).map_err(|err| err.to_string())?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\nplugin {}\nplugin_opt_config_file {}\n\
             persistence false\nlog_dest file {}\n",
            plugin.display(),
            config.display(),
            dir.join("mosquitto.log").display()
        ),
    )
    .map_err(|err| err.to_string())?;
    // The broker runs under a shell that waits on a pipe from this process: when the
    // process ends (however), the pipe closes and the shell ends the broker and removes
    // its directory. (PR_SET_PDEATHSIG would not do: mosquitto, run as root, changes user.)
    let log = dir.join("mosquitto.log");
    let mut keeper = Command::new("sh")
        .args(["-c", "mosquitto -c \"$1\" & broker=$!; read -r _; kill $broker; wait $broker; cp \"$2/mosquitto.log\" /tmp/last-mosquitto.log; rm -rf \"$2\""])
        .arg("sh")
        .arg(&conf)
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("can't start mosquitto: {err}"))?;
    // Held open until the process exits.
    std::mem::forget(keeper.stdin.take());
    let admin = format!("mqtt://admin:{password}@127.0.0.1:{port}");
    // The default ACL access denies what is not granted, as README asks of a real broker
    // (sent as the plugin's JSON command: mosquitto_ctrl 2.0.11's form of it is ignored).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match dynsec(&admin, &["setDefaultACLAccess", "publishClientSend", "deny"]) {
            Ok(_) => break,
            Err(err) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("the private mosquitto did not answer: {err}\n{log}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let (observer, secret) = OBSERVER;
    for args in [
        vec!["setDefaultACLAccess", "subscribe", "deny"],
        vec!["createRole", observer],
        vec!["addRoleACL", observer, "subscribePattern", "#", "allow"],
        vec!["addRoleACL", observer, "publishClientReceive", "#", "allow"],
        vec!["createClient", observer, "-p", secret],
        vec!["addClientRole", observer, observer],
    ] {
        dynsec(&admin, &args)?;
    }
    Ok(admin)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Runs one command of the dynamic security plugin, written as `mosquitto_ctrl dynsec`'s
/// words (`createClient NAME -p PASSWORD`, `addRoleACL ROLE TYPE TOPIC allow`, ...), as the
/// admin of `admin`; a list command gives its names one per line, the others "". Sent as
/// JSON with a `correlationData` of its own: the plugin answers every admin subscribed,
/// so `mosquitto_ctrl` itself would take another test's answer for its own.
pub fn dynsec(admin: &str, args: &[&str]) -> Result<String, String> {
    use serde_json::{json, Value};
    let (name, rest) = args.split_first().ok_or("no command")?;
    let arg = |i: usize| rest.get(i).copied().ok_or_else(|| format!("{name}: too few words: {args:?}"));
    let mut command = match *name {
        "listClients" | "listRoles" => json!({}),
        "createRole" | "deleteRole" => json!({"rolename": arg(0)?}),
        "addRoleACL" => json!({
            "rolename": arg(0)?, "acltype": arg(1)?, "topic": arg(2)?, "allow": arg(3)? == "allow",
        }),
        "removeRoleACL" => json!({"rolename": arg(0)?, "acltype": arg(1)?, "topic": arg(2)?}),
        "createClient" => match rest {
            [user, "-p", password] => json!({"username": user, "password": password}),
            _ => return Err(format!("createClient takes NAME -p PASSWORD: {args:?}")),
        },
        "deleteClient" | "disableClient" | "enableClient" => json!({"username": arg(0)?}),
        "setClientPassword" => json!({"username": arg(0)?, "password": arg(1)?}),
        "setClientId" => json!({"username": arg(0)?, "clientid": arg(1)?}),
        "addClientRole" | "removeClientRole" => json!({"username": arg(0)?, "rolename": arg(1)?}),
        "setDefaultACLAccess" => json!({"acls": [{"acltype": arg(0)?, "allow": arg(1)? == "allow"}]}),
        other => return Err(format!("no JSON form for dynsec {other}")),
    };
    let tag = format!("test-{}", addons::names::generate_addon_id());
    command["command"] = json!(name);
    command["correlationData"] = json!(tag);
    let mut session = connect(admin, Some(&tag))?;
    if !session.subscribe("$CONTROL/dynamic-security/v1/response")? {
        return Err("the admin may not subscribe to the plugin's answers".into());
    }
    session.publish("$CONTROL/dynamic-security/v1", json!({"commands": [command]}).to_string().as_bytes(), false)?;
    let ours = |message: &(String, Vec<u8>, bool)| {
        let answer: Value = serde_json::from_slice(&message.1).unwrap_or_default();
        answer["responses"][0]["correlationData"] == json!(tag)
    };
    if !session.messages_until(ANSWER, ours) {
        return Err(format!("the plugin did not answer dynsec {args:?}"));
    }
    let found = session.received.iter().find(|message| ours(message)).expect("the answer");
    let answer: Value = serde_json::from_slice(&found.1).unwrap();
    let response = &answer["responses"][0];
    if let Some(error) = response["error"].as_str() {
        return Err(format!("dynsec {args:?}: {error}"));
    }
    let listed = response["data"]["clients"].as_array().or(response["data"]["roles"].as_array());
    let names = listed.into_iter().flatten().filter_map(Value::as_str);
    Ok(names.map(|name| format!("{name}\n")).collect())
}

/// The dynamic-security clients and roles of addon `id`: `client NAME`, `role NAME`.
pub fn traces(admin: &str, id: &str) -> Vec<String> {
    let name = format!("addons_{id}");
    let ours = |line: &&str| *line == name || line.starts_with(&format!("{name}_"));
    let mut found = Vec::new();
    for (list, kind) in [("listClients", "client"), ("listRoles", "role")] {
        let listed = dynsec(admin, &[list]).expect("list the dynamic-security clients and roles");
        found.extend(listed.lines().map(str::trim).filter(ours).map(|line| format!("{kind} {line}")));
    }
    found
}

/// Removes every client and the role of addon `id`.
pub fn sweep(admin: &str, id: &str) {
    let Ok(listed) = dynsec(admin, &["listClients"]) else { return };
    let name = format!("addons_{id}");
    for client in listed.lines().map(str::trim).filter(|line| *line == name || line.starts_with(&format!("{name}_"))) {
        let _ = dynsec(admin, &["deleteClient", client]);
    }
    let _ = dynsec(admin, &["deleteRole", &name]);
}

/// An MQTT session as an app (or an attacker) opens it.
pub struct Session {
    client: Client,
    connection: Connection,
    /// Messages received while waiting for something else.
    received: Vec<(String, Vec<u8>, bool)>,
}

/// How long a test waits for one answer of the broker.
const ANSWER: Duration = Duration::from_secs(10);

/// Connects with an `MQTT_URL` (`mqtt://user:password@host:port`) under `client_id`
/// (the URL's user when `None`, as the provider restricts each client to it); the
/// broker's refusal or the failure as text.
pub fn connect(url: &str, client_id: Option<&str>) -> Result<Session, String> {
    let url = url::Url::parse(url).map_err(|err| err.to_string())?;
    let decoded = |text: &str| percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned();
    let (user, password) = (decoded(url.username()), decoded(url.password().unwrap_or_default()));
    let id = client_id.map_or(user.clone(), str::to_string);
    let mut options = MqttOptions::new(id, url.host_str().unwrap_or_default(), url.port().unwrap_or(1883));
    options.set_credentials(user, password).set_keep_alive(Duration::from_secs(30)).set_clean_session(true);
    let (client, mut connection) = Client::new(options, 16);
    let deadline = Instant::now() + ANSWER;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match connection.recv_timeout(left) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                return Ok(Session { client, connection, received: Vec::new() })
            }
            Ok(Ok(_)) => {}
            Ok(Err(ConnectionError::ConnectionRefused(code))) => return Err(format!("refused: {code:?}")),
            Ok(Err(err)) => return Err(err.to_string()),
            Err(err) => return Err(format!("no answer: {err:?}")),
        }
    }
}

/// Connects as the observer, who sees every topic (but `$`-topics).
pub fn observer(admin: &str) -> Session {
    let mut url = url::Url::parse(admin).unwrap();
    url.set_username(OBSERVER.0).unwrap();
    url.set_password(Some(OBSERVER.1)).unwrap();
    let id = format!("observer-{}", addons::names::generate_addon_id());
    connect(url.as_str(), Some(&id)).expect("the observer connects")
}

impl Session {
    /// Waits for the next event; `Err` once the session is closed or silent past `within`.
    fn next(&mut self, within: Duration) -> Result<Event, String> {
        match self.connection.recv_timeout(within) {
            Ok(Ok(Event::Incoming(Packet::Publish(message)))) => {
                self.received.push((message.topic.clone(), message.payload.to_vec(), message.retain));
                Ok(Event::Incoming(Packet::Publish(message)))
            }
            Ok(Ok(event)) => Ok(event),
            Ok(Err(err)) => Err(err.to_string()),
            Err(err) => Err(format!("{err:?}")),
        }
    }

    /// Subscribes to `filter`; whether the broker granted it (a SUBACK failure, 0x80,
    /// is a refusal).
    pub fn subscribe(&mut self, filter: &str) -> Result<bool, String> {
        self.client.subscribe(filter, QoS::AtLeastOnce).map_err(|err| err.to_string())?;
        let deadline = Instant::now() + ANSWER;
        loop {
            if let Event::Incoming(Packet::SubAck(ack)) =
                self.next(deadline.saturating_duration_since(Instant::now()))?
            {
                return Ok(ack.return_codes.iter().all(|code| *code != SubscribeReasonCode::Failure));
            }
        }
    }

    /// Publishes `payload` to `topic` at QoS 1 and waits for the broker's PUBACK (which
    /// Mosquitto sends for a publish its ACLs drop, too).
    pub fn publish(&mut self, topic: &str, payload: &[u8], retain: bool) -> Result<(), String> {
        self.client.publish(topic, QoS::AtLeastOnce, retain, payload.to_vec()).map_err(|err| err.to_string())?;
        let deadline = Instant::now() + ANSWER;
        loop {
            if let Event::Incoming(Packet::PubAck(_)) = self.next(deadline.saturating_duration_since(Instant::now()))? {
                return Ok(());
            }
        }
    }

    /// Every message received within `within`, as `(topic, payload, retained)`.
    pub fn messages(&mut self, within: Duration) -> Vec<(String, Vec<u8>, bool)> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.next(deadline.saturating_duration_since(Instant::now())).is_err() {
                break;
            }
        }
        std::mem::take(&mut self.received)
    }

    /// Waits up to `within` for a message that `wanted` picks (received before or now);
    /// whether one came. The messages received are kept for [`messages`](Self::messages).
    pub fn messages_until(&mut self, within: Duration, wanted: impl Fn(&(String, Vec<u8>, bool)) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.received.iter().any(&wanted) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.next(left).is_err() {
                return false;
            }
        }
    }

    /// Ends a subscription and waits for the broker's UNSUBACK.
    pub fn unsubscribe(&mut self, filter: &str) -> Result<(), String> {
        self.client.unsubscribe(filter).map_err(|err| err.to_string())?;
        let deadline = Instant::now() + ANSWER;
        loop {
            if let Event::Incoming(Packet::UnsubAck(_)) =
                self.next(deadline.saturating_duration_since(Instant::now()))?
            {
                return Ok(());
            }
        }
    }

    /// Whether the broker still holds the session: a ping is answered within `within`.
    pub fn alive(&mut self, within: Duration) -> bool {
        // A subscription the session may always make is answered as a ping would be; a
        // closed session errs.
        let deadline = Instant::now() + within;
        if self.client.try_unsubscribe("addons/never-subscribed").is_err() {
            return false;
        }
        loop {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Ok(Event::Incoming(Packet::UnsubAck(_))) => return true,
                Ok(Event::Incoming(Packet::Disconnect)) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    }
}

/// Uses an `MQTT_URL` and `MQTT_TOPIC_PREFIX` as an app would: subscribes under the
/// prefix, publishes there and receives its message back.
pub fn round_trip(url: &str, prefix: &str) -> Result<(), String> {
    let mut session = connect(url, None)?;
    let topic = format!("{prefix}probe");
    if !session.subscribe(&topic)? {
        return Err(format!("subscribing to {topic} was refused"));
    }
    session.publish(&topic, b"hello", false)?;
    match session.messages_until(ANSWER, |(t, payload, _)| *t == topic && payload == b"hello") {
        true => Ok(()),
        false => Err(format!("the message to {topic} did not come back")),
    }
}
