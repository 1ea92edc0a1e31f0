//! MQTT isolation, acted out as an attacker would with the credentials an addon hands
//! out, against the tests' private Mosquitto: subscriptions to `#`, `$SYS/#`,
//! `$CONTROL/#`, another addon's prefix or wildcards over the prefixes are refused
//! (SUBACK 0x80); publishes outside the prefix, retained or not, and commands to the
//! plugin's control topic are dropped (a privileged observer and the other tenant never
//! receive them, and nothing is made); another tenant's client id, any client id but its
//! own and an anonymous login are refused, and the other tenant's session lives on;
//! deprovisioning ends the tenant's sessions, clears its retained messages and leaves
//! nothing it can log in with. An
//! app using paho-mqtt publishes and consumes under its prefix, and is refused after a
//! detach and after a rotation's grace.

use crate::common;

use std::time::Duration;

use common::mosquitto::{connect, dynsec, observer};
use common::readers::{readers, stdout_of};
use common::servers::{self, server, traces, Sweep};
use common::TestEnv;

/// An mqtt addon provisioned to ready, and swept off the broker when dropped.
struct Addon {
    name: String,
    id: String,
    url: String,
    prefix: String,
    _sweep: Sweep,
}

impl Addon {
    fn provision(env: &TestEnv, admin: &str, app: &str) -> Addon {
        let addon = env.provision_ready("mqtt", app, &["--timeout", "60s"]);
        let text = |field: &str| addon[field].as_str().expect("a string field").to_string();
        let (name, id) = (text("name"), text("id"));
        let sweep = Sweep::new("mqtt", admin, &id);
        let vars = env.vars(app);
        Addon { name, id, url: vars["MQTT_URL"].clone(), prefix: vars["MQTT_TOPIC_PREFIX"].clone(), _sweep: sweep }
    }

    /// Its client's user name, the one client id it may connect with.
    fn login(&self) -> String {
        url::Url::parse(&self.url).unwrap().username().to_string()
    }
}

/// How long to wait for a message that must not come.
const SILENCE: Duration = Duration::from_millis(700);

#[test]
fn a_tenant_can_subscribe_and_publish_under_its_own_prefix_alone() {
    let Some(admin) = server("mqtt", "the mqtt isolation test") else { return };
    let env = TestEnv::with_config(&servers::config("mqtt", &admin));
    let (a, b) = (Addon::provision(&env, &admin, "web"), Addon::provision(&env, &admin, "other"));
    assert_eq!(a.prefix, format!("addons/addons_{}/", a.id));
    common::mosquitto::round_trip(&a.url, &a.prefix).expect("a's own prefix works");

    // Subscriptions beyond its prefix are refused with a SUBACK failure.
    let mut attacker = connect(&a.url, None).expect("a's client connects");
    for filter in [
        "#".to_string(),
        "+/#".to_string(),
        "$SYS/#".to_string(),
        "$CONTROL/#".to_string(),
        "$CONTROL/dynamic-security/v1/response".to_string(),
        "addons/#".to_string(),
        "addons/+/#".to_string(),
        format!("{}#", b.prefix),
        format!("{}secrets", b.prefix),
        format!("$share/steal/{}#", b.prefix),
        format!("addons/addons_{}", b.id),
        "elsewhere".to_string(),
    ] {
        assert_eq!(attacker.subscribe(&filter), Ok(false), "a's client subscribed to {filter}");
    }
    assert_eq!(attacker.subscribe(&format!("{}#", a.prefix)), Ok(true), "a's client can't subscribe to its own prefix");

    // Publishes beyond its prefix are dropped: neither the observer (who sees every
    // topic) nor b's client, subscribed to its own prefix, gets them.
    let mut watcher = observer(&admin);
    assert_eq!(watcher.subscribe("#"), Ok(true));
    let mut victim = connect(&b.url, None).expect("b's client connects");
    assert_eq!(victim.subscribe(&format!("{}#", b.prefix)), Ok(true));
    let stolen = format!("{}orders", b.prefix);
    for (topic, retain) in
        [(stolen.as_str(), false), (stolen.as_str(), true), ("elsewhere", false), ("elsewhere", true)]
    {
        attacker.publish(topic, b"from a", retain).unwrap();
    }
    // A command to the plugin, as if a were its admin.
    let pwned = format!("pwned-{}", a.id);
    let command = format!(r#"{{"commands":[{{"command":"createClient","username":"{pwned}","password":"x"}}]}}"#);
    attacker.publish("$CONTROL/dynamic-security/v1", command.as_bytes(), false).unwrap();
    attacker.publish(&format!("{}mine", a.prefix), b"own", false).unwrap();
    let seen = watcher.messages(SILENCE);
    assert!(
        seen.iter().any(|(topic, _, _)| *topic == format!("{}mine", a.prefix)),
        "the observer saw nothing: {seen:?}"
    );
    // Other tests use the broker meanwhile: what a sent is what it published.
    let leaked: Vec<_> = seen.iter().filter(|(topic, _, _)| *topic == stolen || topic == "elsewhere").collect();
    assert!(leaked.is_empty(), "a's publishes outside its prefix got through: {leaked:?}");
    assert_eq!(victim.messages(SILENCE), [], "b's client got a's messages");
    assert!(!dynsec(&admin, &["listClients"]).unwrap().contains(&pwned), "a's command to the plugin made a client");

    // Nothing was retained under b's prefix: a new subscriber of b's gets no message.
    let mut later = connect(&b.url, None).expect("b's client connects again");
    assert_eq!(later.subscribe(&format!("{}#", b.prefix)), Ok(true));
    assert_eq!(later.messages(SILENCE), [], "a retained a message under b's prefix");

    env.ok(["deprovision", &a.name, &b.name, "--wait", "--timeout", "60s"]);
}

#[test]
fn a_tenant_connects_under_its_own_client_id_alone() {
    let Some(admin) = server("mqtt", "the mqtt client id test") else { return };
    let env = TestEnv::with_config(&servers::config("mqtt", &admin));
    let (a, b) = (Addon::provision(&env, &admin, "web"), Addon::provision(&env, &admin, "other"));
    let mut victim = connect(&b.url, None).expect("b's client connects");
    for client_id in [b.login(), format!("{}-2", a.login()), "anything".to_string(), "observer".to_string()] {
        let refused = connect(&a.url, Some(&client_id)).map(drop).expect_err("a connected under another client id");
        assert!(refused.contains("refused"), "{client_id}: {refused}");
    }
    assert!(victim.alive(Duration::from_secs(5)), "a's attempts ended b's session");
    // No login at all, or b's user with a's password.
    let mut anonymous = url::Url::parse(&a.url).unwrap();
    anonymous.set_username("").unwrap();
    anonymous.set_password(None).unwrap();
    connect(anonymous.as_str(), Some("anonymous-1")).map(drop).expect_err("an anonymous client connected");
    let mut mixed = url::Url::parse(&a.url).unwrap();
    mixed.set_username(&b.login()).unwrap();
    connect(mixed.as_str(), None).map(drop).expect_err("b's user logged in with a's password");
    assert!(victim.alive(Duration::from_secs(5)), "b's session was ended");
    env.ok(["deprovision", &a.name, &b.name, "--wait", "--timeout", "60s"]);
}

#[test]
fn deprovisioning_ends_the_sessions_and_leaves_no_login() {
    let Some(admin) = server("mqtt", "the mqtt deprovision test") else { return };
    let env = TestEnv::with_config(&servers::config("mqtt", &admin));
    let a = Addon::provision(&env, &admin, "web");
    env.ok(["attach", &a.name, "worker", "--wait", "--timeout", "60s"]);
    let worker = env.vars("worker")["MQTT_URL"].clone();
    let mut sessions = [connect(&a.url, None).unwrap(), connect(&worker, None).unwrap()];
    for session in &mut sessions {
        assert_eq!(session.subscribe(&format!("{}#", a.prefix)), Ok(true));
    }
    // Retained messages under its prefix, more than a client's queue holds at once.
    for i in 0..40 {
        sessions[i % 2].publish(&format!("{}state/{i}", a.prefix), b"kept", true).unwrap();
    }
    let mut watcher = observer(&admin);
    assert_eq!(watcher.subscribe(&format!("{}#", a.prefix)), Ok(true));
    let retained = |watcher: &mut common::mosquitto::Session| {
        let seen = watcher.messages(SILENCE);
        seen.into_iter().filter(|(_, payload, retained)| *retained && !payload.is_empty()).count()
    };
    assert_eq!(retained(&mut watcher), 40, "the broker did not keep the retained messages");
    let run = env.ok(["deprovision", &a.name, "--wait", "--timeout", "60s", "-v"]);
    assert!(run.stderr.contains("cleared 40 retained messages") || run.stdout.contains("cleared 40"), "{run}");
    let mut watcher = observer(&admin);
    assert_eq!(watcher.subscribe(&format!("{}#", a.prefix)), Ok(true));
    assert_eq!(retained(&mut watcher), 0, "retained messages outlived the deprovision");
    for session in &mut sessions {
        assert!(!session.alive(Duration::from_secs(5)), "a session outlived the deprovision");
    }
    for url in [&a.url, &worker] {
        connect(url, None).map(drop).expect_err("a login outlived the deprovision");
    }
    assert_eq!(traces("mqtt", &admin, &a.id), Vec::<String>::new());
}

#[test]
fn provision_from_is_refused_saying_why() {
    let Some(admin) = server("mqtt", "the mqtt copy refusal") else { return };
    let env = TestEnv::with_config(&servers::config("mqtt", &admin));
    let a = Addon::provision(&env, &admin, "web");
    let before = env.json(["list", "--all", "--json"]);
    let line = env.fails(2, ["provision", "mqtt", "other", "--from", &a.name]);
    assert!(line.contains("no data to copy") && line.contains("without --from"), "{line}");
    assert_eq!(env.json(["list", "--all", "--json"]), before, "a refused copy made something");
    env.ok(["deprovision", &a.name, "--wait", "--timeout", "60s"]);
}

#[test]
fn providers_says_how_to_set_the_plugin_up_when_it_does_not_answer() {
    // A broker that is not there, and the machine's own broker, whose admin is not one.
    let env = TestEnv::with_config(&servers::config("mqtt", "mqtt://admin:hunter2@127.0.0.1:1"));
    let run = env.ok(["providers"]);
    let row = run.stdout.lines().find(|line| line.starts_with("mqtt")).expect("an mqtt row");
    assert!(row.contains("unreachable") && row.contains("connection refused"), "{run}");
    assert!(!run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"), "{run}");
    let Some(admin) = server("mqtt", "the mqtt plugin refusals") else { return };
    // A client of the plugin that may not use the control topic.
    let (user, secret) = common::mosquitto::OBSERVER;
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_username(user).unwrap();
    url.set_password(Some(secret)).unwrap();
    let env = TestEnv::with_config(&format!("{}connect_timeout = \"1s\"\n", servers::config("mqtt", url.as_str())));
    let run = env.run(["providers", "--check"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("dynamic security plugin") && run.stdout.contains("$CONTROL/dynamic-security/#"),
        "{run}"
    );
    let line = env.fails(1, ["provision", "mqtt", "web"]);
    assert!(line.contains("mosquitto_dynamic_security.so") && line.contains("mosquitto_ctrl dynsec init"), "{line}");
}

/// The paho-mqtt app of tests/readers, run with `vars`; what it printed.
fn paho(readers: &common::readers::Readers, vars: &common::Vars) -> String {
    let mut command = readers.mqtt_app();
    command.env("MQTT_URL", &vars["MQTT_URL"]).env("MQTT_TOPIC_PREFIX", &vars["MQTT_TOPIC_PREFIX"]);
    stdout_of(command)
}

#[test]
fn a_paho_app_publishes_and_consumes_until_detached_or_rotated_away() {
    let Some(admin) = server("mqtt", "the mqtt paho test") else { return };
    let Some(readers) = readers("the mqtt paho test") else { return };
    let env = TestEnv::with_config(&servers::config("mqtt", &admin));
    let addon = Addon::provision(&env, &admin, "web");
    env.ok(["attach", &addon.name, "worker", "--wait", "--timeout", "60s"]);
    let (web, worker) = (env.vars("web"), env.vars("worker"));
    assert_eq!(paho(&readers, &web), "got: hello from paho\n");
    assert_eq!(paho(&readers, &worker), "got: hello from paho\n");
    env.ok(["detach", &addon.name, "worker", "--wait", "--timeout", "60s"]);
    assert!(paho(&readers, &worker).starts_with("refused: "), "the detached app still connects");
    assert_eq!(paho(&readers, &web), "got: hello from paho\n");

    // A rotation: the old login works through the grace, and is refused after it.
    env.ok(["rotate", &addon.name, "--grace", "3s", "--wait", "--timeout", "60s"]);
    let rotated = env.vars("web");
    assert_ne!(rotated["MQTT_URL"], web["MQTT_URL"]);
    assert_eq!(paho(&readers, &rotated), "got: hello from paho\n");
    assert_eq!(paho(&readers, &web), "got: hello from paho\n", "the old login was refused during the grace");
    std::thread::sleep(Duration::from_secs(4));
    env.ok(["wait", &addon.name, "--timeout", "60s"]);
    assert!(paho(&readers, &web).starts_with("refused: "), "the old login works after the grace");
    assert_eq!(paho(&readers, &rotated), "got: hello from paho\n");
    env.ok(["deprovision", &addon.name, "--wait", "--timeout", "60s"]);
    assert_eq!(traces("mqtt", &admin, &addon.id), Vec::<String>::new());
}

#[test]
fn providers_warns_while_the_default_acl_access_allows_more_than_a_role_grants() {
    let Some(admin) = common::mosquitto::own_broker("the mqtt default ACL warning") else { return };
    let env = TestEnv::with_config(&servers::config("mqtt", &admin));
    let row = |env: &TestEnv| {
        let run = env.ok(["providers"]);
        run.stdout.lines().find(|line| line.starts_with("mqtt")).expect("an mqtt row").to_string()
    };
    assert!(!row(&env).contains("warning"), "{}", row(&env));
    for kind in ["publishClientSend", "subscribe"] {
        dynsec(&admin, &["setDefaultACLAccess", kind, "allow"]).unwrap();
    }
    let shown = row(&env);
    for kind in ["publishClientSend", "subscribe"] {
        assert!(shown.contains(&format!("default ACL access allows {kind}")), "{shown}");
        assert!(shown.contains(&format!("setDefaultACLAccess {kind} deny")), "{shown}");
    }
    let run = env.run(["-q", "provision", "mqtt", "web", "--wait", "--timeout", "60s"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("default ACL access allows publishClientSend"), "{run}");
    env.ok(["deprovision", "--app", "web", "--wait", "--timeout", "60s"]);
}
