//! RabbitMQ isolation, acted out with the credentials an addon hands out: another addon's
//! vhost and the default one are refused over AMQP and through the management API, which
//! lists nothing to a tenant and lets it change neither its rights nor its password;
//! params become vhost limits the broker enforces; deprovisioning closes an app's open
//! connections; `provision --from` copies definitions and no messages; an app using pika
//! publishes, consumes, and is refused once detached. Against ADDONS_TEST_RABBITMQ_URL.

use crate::common;

use futures_lite::future::block_on;
use lapin::options::{BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::{types::FieldTable, ExchangeKind};
use serde_json::{json, Value};

use common::readers::{readers, stdout_of};
use common::servers::{self, connect_rabbitmq, publish, rabbitmq_api, rabbitmq_send, server, traces, Sweep};
use common::TestEnv;

/// A rabbitmq addon provisioned to ready, and swept off the server when dropped.
struct Addon {
    name: String,
    id: String,
    url: String,
    _sweep: Sweep,
}

impl Addon {
    fn provision(env: &TestEnv, admin: &str, app: &str, extra: &[&str]) -> Addon {
        let addon = env.provision_ready("rabbitmq", app, &[&["--timeout", "60s"], extra].concat());
        let text = |field: &str| addon[field].as_str().expect("a string field").to_string();
        let (name, id) = (text("name"), text("id"));
        let sweep = Sweep::new("rabbitmq", admin, &id);
        Addon { name, id, url: env.vars(app)["RABBITMQ_URL"].clone(), _sweep: sweep }
    }

    /// `addons_<id>`: its vhost, and its first user.
    fn vhost(&self) -> String {
        format!("addons_{}", self.id)
    }

    /// The admin URL with this addon's own user and password in place of the admin's.
    fn api_as_tenant(&self, admin: &str) -> String {
        let handed = url::Url::parse(&self.url).unwrap();
        let mut api = url::Url::parse(admin).unwrap();
        api.set_username(handed.username()).unwrap();
        api.set_password(handed.password()).unwrap();
        api.into()
    }

    /// Its URL with another vhost in its path.
    fn url_into(&self, vhost: &str) -> String {
        let mut url = url::Url::parse(&self.url).unwrap();
        url.set_path(&format!("/{vhost}"));
        url.into()
    }
}

/// Asserts that the API refused the tenant's request (401: not a management user).
fn refused(answer: Result<Value, String>, what: &str) {
    let err = answer.expect_err(&format!("the tenant may {what}"));
    assert!(err.contains(": 401 ") && err.contains("Not management user"), "{what}: {err}");
}

#[test]
fn a_tenant_reaches_its_own_vhost_alone() {
    let Some(admin) = server("rabbitmq", "the rabbitmq isolation test") else { return };
    let env = TestEnv::with_config(&servers::config("rabbitmq", &admin));
    let (a, b) = (Addon::provision(&env, &admin, "web", &[]), Addon::provision(&env, &admin, "other", &[]));
    servers::rabbitmq_round_trip(&a.url).expect("a's own vhost works");

    // AMQP: another addon's vhost, and the default vhost where a tenant could declare.
    for vhost in [b.vhost(), "%2F".to_string()] {
        let err = connect_rabbitmq(&a.url_into(&vhost)).map(drop).expect_err("opened a vhost not its own");
        assert!(err.to_string().to_lowercase().contains("access"), "{vhost}: {err}");
    }

    // The management API: the password is taken, and nothing is shown or changed.
    let tenant = a.api_as_tenant(&admin);
    for path in ["/api/whoami", "/api/vhosts", "/api/users", "/api/connections", "/api/overview"] {
        refused(rabbitmq_api(&tenant, "GET", path), &format!("GET {path}"));
    }
    refused(rabbitmq_api(&tenant, "GET", &format!("/api/vhosts/{}/connections", b.vhost())), "list b's connections");
    refused(rabbitmq_api(&tenant, "GET", &format!("/api/queues/{}", b.vhost())), "list b's queues");
    let user = a.vhost();
    let everything = json!({"configure": ".*", "write": ".*", "read": ".*"});
    let grants = [format!("/api/permissions/{}/{user}", b.vhost()), format!("/api/permissions/%2F/{user}")];
    for path in grants {
        refused(rabbitmq_send(&tenant, "PUT", &path, Some(everything.clone())), &format!("PUT {path}"));
    }
    let narrowed = json!({"configure": "", "write": ".*", "read": ".*"});
    let own = format!("/api/permissions/{}/{user}", a.vhost());
    refused(rabbitmq_send(&tenant, "PUT", &own, Some(narrowed)), "change its own permissions");
    let password = json!({"password": "chosen-by-the-tenant", "tags": "administrator"});
    refused(rabbitmq_send(&tenant, "PUT", &format!("/api/users/{user}"), Some(password)), "change its own password");
    refused(rabbitmq_api(&tenant, "DELETE", &format!("/api/vhosts/{}", b.vhost())), "delete b's vhost");

    // Nothing changed: both addons check out, and a still logs in with its own password.
    let checked = env.json(["check", &a.name, &b.name, "--json"]);
    for addon in checked.as_array().unwrap() {
        assert_eq!(addon["status"], "ok", "{checked:#}");
    }
    servers::rabbitmq_round_trip(&a.url).expect("a's own vhost still works");
    servers::rabbitmq_round_trip(&b.url).expect("b's own vhost still works");
    env.ok(["deprovision", &a.name, &b.name, "--wait", "--timeout", "60s"]);
    for addon in [&a, &b] {
        assert_eq!(traces("rabbitmq", &admin, &addon.id), Vec::<String>::new());
    }
}

#[test]
fn params_are_vhost_limits_the_broker_keeps() {
    let Some(admin) = server("rabbitmq", "the rabbitmq limits test") else { return };
    let env = TestEnv::with_config(&servers::config("rabbitmq", &admin));
    let params = ["--param", "max_queues=1", "--param", "max_connections=2"];
    let addon = Addon::provision(&env, &admin, "web", &params);
    let limits = rabbitmq_api(&admin, "GET", &format!("/api/vhost-limits/{}", addon.vhost())).unwrap();
    assert_eq!(limits[0]["value"], json!({"max-queues": 1, "max-connections": 2}), "{limits}");
    let connection = connect_rabbitmq(&addon.url).unwrap();
    let channel = block_on(connection.create_channel()).unwrap();
    let declare = |name: &str| block_on(channel.queue_declare(name.into(), Default::default(), FieldTable::default()));
    declare("first").expect("the first queue");
    let err = declare("second").map(drop).expect_err("a second queue");
    assert!(err.to_string().contains("queue limit"), "{err}");
    drop(connection);
    let bad = env.fails(2, ["provision", "rabbitmq", "web", "--param", "max_queues=many"]);
    assert!(bad.contains("max_queues must be a whole number"), "{bad}");
    env.ok(["deprovision", &addon.name, "--wait", "--timeout", "60s"]);
    assert_eq!(traces("rabbitmq", &admin, &addon.id), Vec::<String>::new());
}

#[test]
fn deprovision_closes_the_connections_apps_hold_open() {
    let Some(admin) = server("rabbitmq", "the rabbitmq deprovision test") else { return };
    let env = TestEnv::with_config(&servers::config("rabbitmq", &admin));
    let addon = Addon::provision(&env, &admin, "web", &[]);
    let held = connect_rabbitmq(&addon.url).unwrap();
    let channel = block_on(held.create_channel()).unwrap();
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    block_on(channel.queue_declare("kept".into(), durable, FieldTable::default())).unwrap();
    block_on(publish(&channel, "", "kept", b"left behind")).unwrap();
    env.ok(["deprovision", &addon.name, "--wait", "--timeout", "60s"]);
    assert_eq!(traces("rabbitmq", &admin, &addon.id), Vec::<String>::new());
    let closed = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        block_on(held.create_channel()).is_err()
    });
    assert!(closed, "the app's connection outlived its vhost");
    connect_rabbitmq(&addon.url).map(drop).expect_err("the deprovisioned URL still logs in");
}

#[test]
fn a_copy_has_the_definitions_and_no_messages() {
    let Some(admin) = server("rabbitmq", "the rabbitmq --from test") else { return };
    let env = TestEnv::with_config(&servers::config("rabbitmq", &admin));
    let source = Addon::provision(&env, &admin, "main", &["--name", "main-mq"]);
    let connection = connect_rabbitmq(&source.url).unwrap();
    let channel = block_on(connection.create_channel()).unwrap();
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    block_on(channel.queue_declare("orders".into(), durable, FieldTable::default())).unwrap();
    let options = ExchangeDeclareOptions { durable: true, ..Default::default() };
    block_on(channel.exchange_declare("events".into(), ExchangeKind::Topic, options, FieldTable::default())).unwrap();
    let bind = QueueBindOptions::default();
    block_on(channel.queue_bind("orders".into(), "events".into(), "order.*".into(), bind, FieldTable::default()))
        .unwrap();
    block_on(publish(&channel, "", "orders", b"a message")).unwrap();
    block_on(connection.close(200, "OK".into())).unwrap();
    let policy = json!({"pattern": "^orders$", "definition": {"max-length": 100}, "apply-to": "queues"});
    let path = format!("/api/policies/{}/cap", source.vhost());
    rabbitmq_send(&admin, "PUT", &path, Some(policy)).unwrap();

    let copy = Addon::provision(&env, &admin, "branch", &["--name", "branch-mq", "--from", "main-mq"]);
    let log = env.json(["log", "branch-mq", "--json"]);
    let provisioned = log.as_array().unwrap().iter().find(|entry| entry["to"] == "provisioned").unwrap();
    let message = provisioned["message"].as_str().unwrap();
    assert!(message.contains("messages are not copied"), "{message}");
    let vhost = copy.vhost();
    let queues = rabbitmq_api(&admin, "GET", &format!("/api/queues/{vhost}/orders")).unwrap();
    assert_eq!(queues["durable"], true, "{queues}");
    let bindings = rabbitmq_api(&admin, "GET", &format!("/api/bindings/{vhost}/e/events/q/orders")).unwrap();
    assert_eq!(bindings[0]["routing_key"], "order.*", "{bindings}");
    let policy = rabbitmq_api(&admin, "GET", &format!("/api/policies/{vhost}/cap")).unwrap();
    assert_eq!(policy["definition"]["max-length"], 100, "{policy}");
    let connection = connect_rabbitmq(&copy.url).unwrap();
    let channel = block_on(connection.create_channel()).unwrap();
    let got = block_on(channel.basic_get("orders".into(), BasicGetOptions { no_ack: true })).unwrap();
    assert!(got.is_none(), "a message was copied");
    block_on(publish(&channel, "events", "order.new", b"new")).unwrap();
    block_on(connection.close(200, "OK".into())).unwrap();
    env.ok(["deprovision", &source.name, &copy.name, "--wait", "--timeout", "60s"]);
    for addon in [&source, &copy] {
        assert_eq!(traces("rabbitmq", &admin, &addon.id), Vec::<String>::new());
    }
}

#[test]
fn providers_names_the_management_plugin_when_the_api_does_not_answer() {
    let env = TestEnv::with_config(&servers::config("rabbitmq", "http://guest:hunter2@127.0.0.1:1"));
    let run = env.ok(["providers"]);
    let row = run.stdout.lines().find(|line| line.starts_with("rabbitmq")).expect("a rabbitmq row");
    assert!(row.contains("unreachable"), "{run}");
    assert!(row.contains("rabbitmq-plugins enable rabbitmq_management"), "{run}");
    assert!(!run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"), "{run}");
    let line = env.fails(1, ["provision", "rabbitmq", "web"]);
    assert!(line.contains("rabbitmq-plugins enable rabbitmq_management"), "{line}");
}

/// What an app does with pika: publishes to a queue of its own and consumes it back,
/// printing what it got; or, refused, the kind of error.
const PIKA_APP: &str = r#"
import os, sys, pika
try:
    connection = pika.BlockingConnection(pika.URLParameters(os.environ["RABBITMQ_URL"]))
except pika.exceptions.AMQPConnectionError as err:
    print("refused:", type(err).__name__)
    sys.exit(0)
channel = connection.channel()
channel.queue_declare(queue="greetings")
channel.basic_publish(exchange="", routing_key="greetings", body=b"hello from pika")
for method, properties, body in channel.consume("greetings", inactivity_timeout=5):
    print("got:", body.decode())
    channel.basic_ack(method.delivery_tag)
    break
connection.close()
"#;

#[test]
fn a_pika_app_publishes_and_consumes_until_detached() {
    let Some(admin) = server("rabbitmq", "the rabbitmq pika test") else { return };
    let Some(readers) = readers("the rabbitmq pika test") else { return };
    let env = TestEnv::with_config(&servers::config("rabbitmq", &admin));
    let addon = Addon::provision(&env, &admin, "web", &["--name", "mq"]);
    env.ok(["attach", "mq", "worker", "--wait", "--timeout", "60s"]);
    let app = |vars: &common::Vars| {
        let mut command = readers.python(PIKA_APP);
        command.env("RABBITMQ_URL", &vars["RABBITMQ_URL"]);
        stdout_of(command)
    };
    let worker = env.vars("worker");
    assert_eq!(app(&env.vars("web")), "got: hello from pika\n");
    assert_eq!(app(&worker), "got: hello from pika\n");
    env.ok(["detach", "mq", "worker", "--wait", "--timeout", "60s"]);
    assert_eq!(app(&worker), "refused: ProbableAuthenticationError\n");
    assert_eq!(app(&env.vars("web")), "got: hello from pika\n");
    env.ok(["deprovision", "mq", "--wait", "--timeout", "60s"]);
    assert_eq!(traces("rabbitmq", &admin, &addon.id), Vec::<String>::new());
}
