//! The provider registry through the binary: each `[providers.NAME]` table is read by its
//! own provider (a table for no provider, or a key another provider takes, is refused with
//! file, line and key); the server providers word every failure alike, as
//! `<admin URL, masked>: <doing>: <what>; <fix>`; and each hands apps the public host.
//!
//! The server tests read the ADDONS_TEST_*_URL variables; without them they print a
//! notice and skip, unless ADDONS_TEST_REQUIRE_SERVERS=1.

use crate::common;

use common::providers;
use common::servers;
use common::TestEnv;

/// A state file with one addon, so that "nothing changed" means something.
fn prepared() -> TestEnv {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "web", "--wait"]);
    env
}

#[test]
fn a_providers_table_naming_no_provider_is_refused_with_the_registered_names() {
    let env = prepared();
    let before = env.state_bytes();
    env.write_config("[engine]\njobs = 2\n\n[providers.mongo]\nurl = \"mongodb://h\"\n");
    for args in [&["list"][..], &["tick"], &["providers"]] {
        let message = env.fails(2, args);
        let want = format!(
            "error: config file {}, line 4: [providers.mongo]: unknown provider \"mongo\"; \
             choose one of: {}",
            env.config.display(),
            providers::listed()
        );
        assert_eq!(message, want);
    }
    env.write_config("providers = 3\n");
    let message = env.fails(2, ["list"]);
    assert!(message.ends_with("line 1: providers must be a table of [providers.NAME] sections"), "{message}");
    assert!(env.state_bytes() == before, "the state file changed");
}

#[test]
fn each_provider_reads_only_its_own_table() {
    let env = prepared();
    let before = env.state_bytes();
    // Keys that another provider takes, or none does, are refused where they stand.
    for (text, line, key) in [
        ("[providers.secret]\nlength = 5\n", 2, "length"),
        ("[providers.sqlite]\ndir = \"/tmp\"\nurl = \"sqlite:///x\"\n", 3, "url"),
        ("[providers.redis]\nurl = \"redis://h\"\ndir = \"/tmp\"\n", 3, "dir"),
        ("\n[providers.postgres]\npublic_host = \"h\"\n", 2, "url"),
        ("[providers.mysql]\nurl = 3306\n", 2, "providers.mysql.url: invalid type"),
    ] {
        env.write_config(text);
        let message = env.fails(2, ["list"]);
        let place = format!("config file {}, line {line}: ", env.config.display());
        assert!(message.contains(&place) && message.contains(key), "{text:?}: {message}");
    }
    // An empty table for a provider that takes no settings is no error.
    env.write_config("[providers.secret]\n");
    env.ok(["list"]);
    assert!(env.state_bytes() == before, "the state file changed");
}

#[test]
fn server_failures_are_one_line_naming_the_masked_server_what_failed_and_the_fix() {
    let urls: Vec<(&str, String)> = (providers::on_servers().into_iter())
        .map(|provider| (provider, providers::closed_url(provider, "admin", "hunter2", "[::1]")))
        .collect();
    let config: String = urls.iter().map(|(provider, url)| servers::config(provider, url)).collect();
    let env = TestEnv::with_config(&config);
    let run = env.run(["providers", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let docs = run.json();
    let doc_of = |provider: &str| docs.as_array().unwrap().iter().find(|doc| doc["name"] == provider).unwrap().clone();
    for (provider, url) in &urls {
        let doc = doc_of(provider);
        assert_eq!(doc["status"], "unreachable");
        let detail = doc["detail"].as_str().unwrap();
        let prefix = url.replace("hunter2", "****");
        assert!(detail.starts_with(&prefix), "{detail}");
        let (doing, fix) = detail[prefix.len()..].split_once("; ").unwrap_or_else(|| panic!("no fix: {detail}"));
        assert!(doing.starts_with(": ") && doing.matches(": ").count() >= 2, "{detail}");
        assert!(!fix.is_empty() && !detail.contains("hunter2") && !detail.contains('\n'), "{detail}");
    }
    // The place a fix names is written as the admin URL writes it, brackets and all.
    let mysql = doc_of("mysql");
    let mysql = mysql["detail"].as_str().unwrap();
    assert!(mysql.ends_with("check that the server at [::1]:1 is up and reachable"), "{mysql}");
}

#[test]
fn every_server_provider_hands_apps_its_public_host_or_else_the_admin_host() {
    for provider in providers::on_servers() {
        let Some(url) = servers::server(provider, "the public host tests") else { continue };
        let admin = url::Url::parse(&url).unwrap();
        // The first var a server provider hands out is its URL.
        let var = addons::providers::info(provider).unwrap().vars[0];
        for (public_host, want) in [(None, admin.host_str().unwrap()), (Some("::1"), "[::1]")] {
            let extra = public_host.map_or_else(String::new, |host| format!("public_host = \"{host}\"\n"));
            let env = TestEnv::with_config(&format!("{}{extra}", servers::config(provider, &url)));
            env.provision_ready(provider, "web", &["--name", "web-db"]);
            let handed = url::Url::parse(&env.vars("web")[var]).unwrap();
            assert_eq!(handed.host_str(), Some(want), "{provider} {public_host:?}");
            // An app speaks the admin's protocol on the admin's port, but for rabbitmq,
            // whose admin speaks HTTP to the management API and whose apps AMQP.
            match admin.port() {
                Some(port) if handed.scheme() == admin.scheme() => assert_eq!(handed.port(), Some(port), "{provider}"),
                _ if provider == "rabbitmq" => assert_eq!(handed.port(), Some(5672), "{provider}"),
                _ => {}
            }
            env.ok(["deprovision", "web-db", "--wait"]);
        }
    }
}
