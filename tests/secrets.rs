//! Secrets and hostile values at the edges: `public_host` values the URL parser refuses
//! are refused when the config loads; passwords in every URL form are masked (query
//! parameters too, in `providers`, stored provider errors and config var values); the
//! dotenv text reads back exactly through the real readers (python-dotenv, Node's
//! dotenv, `sh`); and `config set` takes a secret on stdin, out of `ps`'s sight.
//!
//! The server tests read the ADDONS_TEST_*_URL variables and the reader tests
//! ADDONS_TEST_READERS (from tests/readers/install); without them they print a notice and
//! skip, unless ADDONS_TEST_REQUIRE_SERVERS=1 / ADDONS_TEST_REQUIRE_READERS=1.

use crate::common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::readers::{readers, stdout_of};
use common::servers;
use common::{Run, TestEnv};

// ---- public_host ----------------------------------------------------------------------

/// Hosts the URL parser refuses (or would rewrite), as TOML string literals.
const HOSTILE_HOSTS: &[&str] = &[
    r#""db#x""#,
    r#""db?x=1""#,
    r#""a|b""#,
    r#""db<x>""#,
    r#""db\nx""#,
    r#""db\u0000x""#,
    r#""db\tx""#,
    r#""db x""#,
    r#""db/x""#,
    r#""u@db""#,
    r#""db:5432""#,
    r#""db\\x""#,
    r#""db^x""#,
    r#""[db]""#,
    r#""[::1""#,
    r#""d\u00e9.example""#,
    r#""""#,
];

#[test]
fn hostile_public_hosts_are_refused_when_the_config_loads() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "web", "--name", "key", "--wait"]);
    let before = env.state_bytes();
    for provider in common::providers::on_servers() {
        let scheme = common::providers::scheme(provider);
        for host in HOSTILE_HOSTS {
            env.write_config(&format!(
                "# hosts\n[providers.{provider}]\nurl = \"{scheme}://h\"\npublic_host = {host}\n"
            ));
            for args in [&["tick", "--jobs", "1"][..], &["list"], &["provision", provider, "web"]] {
                let line = env.fails(2, args);
                let place = format!("config file {}, line 4: providers.{provider}.public_host: ", env.config.display());
                assert!(line.starts_with(&format!("error: {place}")), "{provider} {host}: {line}");
            }
            assert_eq!(env.state_bytes(), before, "{provider} {host}: the state changed");
        }
    }
}

#[test]
fn host_names_and_ip_addresses_are_accepted_as_public_hosts() {
    let env = TestEnv::new();
    for provider in common::providers::on_servers() {
        let scheme = common::providers::scheme(provider);
        for host in ["db.example.internal", "db-1_a", "10.0.0.7", "::1", "[fe80::1]"] {
            env.write_config(&format!("[providers.{provider}]\nurl = \"{scheme}://h\"\npublic_host = {host:?}\n"));
            env.ok(["list"]);
        }
    }
}

/// The public host lands in the URL handed to the app: an IPv6 literal in brackets.
#[test]
fn an_ipv6_public_host_reaches_the_url_in_brackets() {
    let Some(url) = servers::server("postgres", "an_ipv6_public_host_reaches_the_url_in_brackets") else { return };
    let env = TestEnv::with_config(&format!("{}public_host = \"::1\"\n", servers::config("postgres", &url)));
    let addon = env.provision_ready("postgres", "web", &["--name", "db"]);
    let handed = env.vars("web")["DATABASE_URL"].clone();
    assert!(handed.contains("@[::1]:"), "{handed}");
    env.ok(["deprovision", "db", "--wait"]);
    assert!(servers::traces("postgres", &url, addon["id"].as_str().unwrap()).is_empty());
}

// ---- masking ---------------------------------------------------------------------------

/// An admin URL with a password in every form its client takes, for each server provider.
fn url_with_query_passwords(provider: &str, url: &str) -> (String, Vec<&'static str>) {
    let base = url.trim_end_matches('/');
    match provider {
        "postgres" => (format!("{base}?password=SECRETPG1"), vec!["SECRETPG1"]),
        // The mysql crate reads `password`; addons itself uses only the URL's userinfo.
        "mysql" => (format!("{base}/?Password=SECRETMY1&pass=SECRETMY2"), vec!["SECRETMY1", "SECRETMY2"]),
        // The management API takes basic auth alone; a query is no place for it.
        "rabbitmq" => (format!("{base}/?password=SECRETMQ1"), vec!["SECRETMQ1"]),
        // `pass` as redis-rs reads it for unix sockets (ignored over TCP).
        _ => (format!("{base}/0?pass=SECRETRD1&password=SECRETRD2"), vec!["SECRETRD1", "SECRETRD2"]),
    }
}

fn assert_hidden(what: &str, run: &Run, secrets: &[&str]) {
    for secret in secrets {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{what} shows {secret}:\n{run}");
    }
}

#[test]
fn query_passwords_are_masked_in_providers() {
    for provider in common::providers::on_servers() {
        let Some(url) = servers::server(provider, "query_passwords_are_masked_in_providers") else { continue };
        let (admin, mut secrets) = url_with_query_passwords(provider, &url);
        // One server that answers, and one that does not (its error names the URL too),
        // where a password alone is in the userinfo (`:pw@`, as Redis's default user takes it).
        let port = url::Url::parse(&url).unwrap().port().unwrap();
        let down = admin
            .replacen(&format!(":{port}"), ":1", 1)
            .replacen("://", "://:SECRETUP@", 1)
            .replacen("@postgres@", "@", 1)
            .replacen("@root@", "@", 1)
            .replacen("@guest:guest@", "@", 1);
        secrets.push("SECRETUP");
        for (admin, status) in [(&admin, "ok"), (&down, "unreachable")] {
            let env = TestEnv::with_config(&servers::config(provider, admin));
            let table = env.ok(["providers"]);
            assert!(table.stdout.lines().any(|l| l.starts_with(provider) && l.contains(status)), "{table}");
            assert!(table.stdout.contains("****"), "{table}");
            assert_hidden("providers", &table, &secrets);
            assert_hidden("providers --json", &env.ok(["providers", "--json"]), &secrets);
        }
    }
    // A query key spelled in upper case, and sslpassword (which the driver refuses).
    let env = TestEnv::with_config(
        "[providers.postgres]\nurl = \"postgres://u@127.0.0.1:1/d?PASSWORD=SECRETPG2&sslpassword=SECRETPG3\"\n",
    );
    for args in [&["providers"][..], &["providers", "--json"]] {
        assert_hidden("providers", &env.ok(args), &["SECRETPG2", "SECRETPG3"]);
    }
}

/// A provider error stored in the state (the addon's message and its log) names the
/// admin URL: with its query password masked, in every command that shows it.
#[test]
fn query_passwords_are_masked_in_stored_provider_errors() {
    let Some(url) = servers::server("postgres", "query_passwords_are_masked_in_stored_provider_errors") else {
        return;
    };
    let good = format!("{url}?password=SECRETPG4");
    let env = TestEnv::with_config(&servers::config("postgres", &good));
    let addon = env.json(["provision", "postgres", "web", "--name", "db", "--json"]);
    // The server now refuses the URL: sslpassword is a parameter the driver does not take.
    let bad = format!("{url}?password=SECRETPG5&sslpassword=SECRETPG6");
    env.write_config(&servers::config("postgres", &bad));
    let mut runs = vec![("tick --json".to_string(), env.run(["tick", "--json"]))];
    assert_eq!(env.info("db")["state"], "error", "{}", runs[0].1);
    for args in [
        &["list", "--all"][..],
        &["list", "--all", "--json"],
        &["info", "db"],
        &["info", "db", "--json"],
        &["log", "db"],
        &["log", "db", "--json"],
        &["tick"],
        &["wait", "db", "--timeout", "5s"],
    ] {
        runs.push((args.join(" "), env.run(args)));
    }
    let stored = env.json(["log", "db", "--json"]).to_string();
    assert!(stored.contains("sslpassword=****"), "the error names the URL: {stored}");
    for (what, run) in &runs {
        assert_hidden(what, run, &["SECRETPG4", "SECRETPG5", "SECRETPG6"]);
    }
    // Back to the good URL: the orphan cleanup removes what the addon made.
    env.write_config(&servers::config("postgres", &good));
    let start = std::time::Instant::now();
    while env.info("db")["cleanup"] != "done" {
        assert!(start.elapsed() < Duration::from_secs(120), "the orphan cleanup never ran: {}", env.info("db"));
        std::thread::sleep(Duration::from_millis(500));
        env.ok(["tick"]);
    }
    assert!(servers::traces("postgres", &url, addon["id"].as_str().unwrap()).is_empty());
}

#[test]
fn query_passwords_are_masked_in_config_var_values_and_config_errors() {
    let env = TestEnv::new();
    env.ok([
        "config",
        "set",
        "web",
        "DATABASE_URL=postgres://u@db/d?sslmode=require&password=SECRETV1",
        "CACHE_URL=redis://:SECRETV2@cache:6379/0",
        "OTHER_URL=mysql://db/d?PWD=SECRETV3",
    ]);
    let shown = env.ok(["config", "web"]);
    assert!(shown.stdout.contains("postgres://u@db/d?sslmode=require&password=****"), "{shown}");
    assert!(shown.stdout.contains("redis://:****@cache:6379/0"), "{shown}");
    let secrets = ["SECRETV1", "SECRETV2", "SECRETV3"];
    assert_hidden("config", &shown, &secrets);
    assert_hidden("config --json", &env.ok(["config", "web", "--json"]), &secrets);
    assert!(env.ok(["config", "web", "--reveal"]).stdout.contains("SECRETV1"));

    env.write_config("[engine]\njobs = \"postgres://u:SECRETC1@h/d?password=SECRETC2\"\n");
    let line = env.fails(2, ["list"]);
    assert!(line.contains("line 2") && line.contains("postgres://u:****@h/d?password=****"), "{line}");
}

// ---- dotenv ----------------------------------------------------------------------------

/// Values that every reader must get back exactly, keyed by the var that holds them.
const NASTY_VALUES: &[(&str, &str)] = &[
    ("DOLLAR", "a$b"),
    ("DOLLAR_END", "cost: 5$"),
    ("DOLLAR_NAME", "$HOME and $1"),
    ("COMMAND", "$(echo hacked)"),
    ("BACKTICKS", "`echo hacked`"),
    ("NEWLINE", "line one\nline two\n"),
    ("BACKSLASH_N", "not a newline: \\n"),
    ("SINGLE_QUOTE", "it's"),
    ("DOUBLE_QUOTES", "say \"hi\""),
    ("QUOTE_LINES", "\"\nx\n\""),
    ("BACKSLASHES", "C:\\path\\to\\file"),
    ("HASH", "#not a comment"),
    ("SPACE_HASH", "a #b"),
    ("SPACES", "  leading and trailing  "),
    ("TRAILING", "x   "),
    ("TAB", "a\tb"),
    ("UNICODE", "héllo ✓ 日本 \u{2028} end"),
    ("EMPTY", ""),
    ("EQUALS", "="),
    ("PAIRS", "a=b=c"),
    ("SEMICOLON", "a;b&c|d"),
    ("TILDE", "~/x:~/y"),
    ("GLOB", "*?[a]"),
    ("LOOKS_LIKE_A_LINE", "x\nOTHER=injected\n"),
    ("URL", "postgres://u:p%40@[::1]:5432/d?sslmode=require&x=1"),
    ("MIXED", "it's a #1 deal, \n 100% sure"),
    ("BRACES", "{HOME} $ {x}"),
    ("BACKSLASH_QUOTE_FREE", "a\\b\\\nc"),
];

/// Values that no dotenv form carries to every reader.
const UNCARRIED_VALUES: &[(&str, &str)] = &[
    ("EXPANDED", "${HOME}"),
    ("QUOTE_AND_DOLLAR", "it's $HOME"),
    ("QUOTE_AND_BACKTICK", "it's `x`"),
    ("QUOTES", "it's \"x\""),
    ("QUOTES_AND_HASH", "it's a \"#1\" deal"),
    ("CARRIAGE_RETURN", "a\r\nb"),
    ("DOUBLE_BACKSLASH", "a\\\\b"),
    ("TRAILING_BACKSLASH", "a\\"),
];

/// An app with an env file and every nasty value set; returns the env file's text.
fn app_with_nasty_values(env: &TestEnv) -> String {
    let file = env.root().join("app.env");
    env.write_config(&format!("[apps.web]\nenv_file = {:?}\n", file.display().to_string()));
    let pairs: Vec<String> = NASTY_VALUES.iter().map(|(key, value)| format!("{key}={value}")).collect();
    env.ok([&["config", "set", "web"][..], &pairs.iter().map(String::as_str).collect::<Vec<_>>()].concat());
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text, env.ok(["env", "web", "--format", "dotenv"]).stdout, "the env file is the dotenv text");
    text
}

fn expected() -> BTreeMap<String, String> {
    NASTY_VALUES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The vars `sh` has after `set -a; . FILE`.
fn read_with_sh(file: &std::path::Path) -> BTreeMap<String, String> {
    let keys: Vec<&str> = NASTY_VALUES.iter().map(|(key, _)| *key).collect();
    let printed: Vec<String> = keys.iter().map(|key| format!("\"${key}\"")).collect();
    let script = format!("set -a; . \"$1\"; printf '%s\\0' {}", printed.join(" "));
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).arg("sh").arg(file).env_clear().env("HOME", "/nonexistent-home");
    let out = stdout_of(command);
    let values: Vec<&str> = out.split('\0').collect();
    assert_eq!(values.len(), keys.len() + 1, "{out:?}");
    keys.iter().zip(values).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn compare(reader: &str, got: &BTreeMap<String, String>) {
    let want = expected();
    let wrong: Vec<String> = want
        .iter()
        .filter(|(key, value)| got.get(*key) != Some(value))
        .map(|(key, value)| format!("{key}: wrote {value:?}, {reader} read {:?}", got.get(key)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{reader} read back {} of {} values wrong:\n{}",
        wrong.len(),
        want.len(),
        wrong.join("\n")
    );
    assert_eq!(got.len(), want.len(), "{reader} read extra vars: {got:?}");
}

#[test]
fn dotenv_text_reads_back_exactly_with_sh() {
    let env = TestEnv::new();
    app_with_nasty_values(&env);
    compare("sh (set -a; . FILE)", &read_with_sh(&env.root().join("app.env")));
}

#[test]
fn dotenv_text_reads_back_exactly_with_python_dotenv() {
    let Some(readers) = readers("dotenv_text_reads_back_exactly_with_python_dotenv") else { return };
    let env = TestEnv::new();
    app_with_nasty_values(&env);
    let script = "import json, sys\nfrom dotenv import dotenv_values\n\
                  print(json.dumps(dotenv_values(sys.argv[1])))";
    let mut command = readers.python(script);
    command.arg(env.root().join("app.env"));
    compare("python-dotenv", &serde_json::from_str(&stdout_of(command)).unwrap());
}

#[test]
fn dotenv_text_reads_back_exactly_with_node_dotenv() {
    let Some(readers) = readers("dotenv_text_reads_back_exactly_with_node_dotenv") else { return };
    let env = TestEnv::new();
    app_with_nasty_values(&env);
    // config() is what apps call: it parses the file into the given environment.
    let script = "const target = {};\n\
                  require('dotenv').config({ path: process.env.DOTENV_FILE, processEnv: target, quiet: true });\n\
                  console.log(JSON.stringify(target));";
    let mut command = readers.node(script);
    command.env("DOTENV_FILE", env.root().join("app.env"));
    compare("Node's dotenv", &serde_json::from_str(&stdout_of(command)).unwrap());
}

#[test]
fn values_no_dotenv_form_carries_are_refused_by_key() {
    let env = TestEnv::new();
    for (key, value) in UNCARRIED_VALUES {
        env.ok(["config", "set", "plain", &format!("{key}={value}")]);
        let line = env.fails(2, ["env", "plain", "--format", "dotenv"]);
        assert!(line.contains(&format!("config var {key} can't be written in dotenv form")), "{line}");
        // The other formats carry it.
        assert_eq!(env.vars("plain")[*key], *value);
        env.ok(["config", "unset", "plain", key]);
    }
    // An app with an env file refuses the value before storing it.
    let file = env.root().join("web.env");
    env.write_config(&format!("[apps.web]\nenv_file = {:?}\n", file.display().to_string()));
    env.ok(["config", "set", "web", "A=1"]);
    let before = (env.state_bytes(), std::fs::read(&file).unwrap());
    for (key, value) in UNCARRIED_VALUES {
        let line = env.fails(2, ["config", "set", "web", &format!("{key}={value}")]);
        assert!(line.contains(&format!("config var {key} can't")) && line.contains("apps.web.env_file"), "{line}");
        assert_eq!((env.state_bytes(), std::fs::read(&file).unwrap()), before, "{key}: something changed");
    }
}

// ---- config set from stdin -------------------------------------------------------------

/// Runs `addons args...` with `input` on stdin.
fn run_with_stdin(env: &TestEnv, args: &[&str], input: &[u8]) -> Run {
    let mut child =
        env.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // A process that refuses before reading closes the pipe: that is not the test's failure.
    let _ = child.stdin.take().unwrap().write_all(input);
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[test]
fn config_set_reads_a_secret_from_stdin_and_never_from_argv() {
    let env = TestEnv::new();
    let secret = "s3cr3t 'with' $pecial \"chars\"";
    // While the value is still unsent the process is waiting on stdin: its argv holds no secret.
    let mut child = env
        .command(["config", "set", "web", "API_TOKEN"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until the exec, /proc shows the test's own command line.
    let start = std::time::Instant::now();
    let cmdline = loop {
        let cmdline =
            String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap()).into_owned();
        if cmdline.contains("API_TOKEN") {
            break cmdline;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "addons never started: {cmdline:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!cmdline.contains("s3cr3t"), "{cmdline:?}");
    child.stdin.take().unwrap().write_all(format!("{secret}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(printed, "Set API_TOKEN on app web.\n");
    assert_eq!(env.vars("web")["API_TOKEN"], secret, "one trailing newline is stripped");
    assert!(!env.ok(["config", "web"]).stdout.contains("s3cr3t"));

    // KEY=- too, beside other pairs; only one trailing newline (or CRLF) goes.
    let run = run_with_stdin(&env, &["config", "set", "web", "A=1", "MULTI=-", "B=2"], b"two\nlines\n\n");
    assert_eq!(run.code, 0, "{run}");
    let run = run_with_stdin(&env, &["config", "set", "web", "CRLF"], b"value\r\n");
    assert_eq!(run.code, 0, "{run}");
    let vars = env.vars("web");
    assert_eq!((vars["A"].as_str(), vars["MULTI"].as_str(), vars["B"].as_str()), ("1", "two\nlines\n", "2"));
    assert_eq!(vars["CRLF"], "value");
    // A lone newline is an empty value, given on purpose.
    assert_eq!(run_with_stdin(&env, &["config", "set", "web", "EMPTY"], b"\n").code, 0);
    assert_eq!(env.vars("web")["EMPTY"], "");
}

#[test]
fn config_set_refuses_stdin_it_cannot_use_and_changes_nothing() {
    let env = TestEnv::new();
    env.ok(["config", "set", "web", "KEEP=1"]);
    let before = env.state_bytes();
    for (args, input, phrase) in [
        (&["config", "set", "web", "TOKEN"][..], &b""[..], "no value for TOKEN on stdin"),
        (&["config", "set", "web", "TOKEN=-"], b"", "no value for TOKEN on stdin"),
        (&["config", "set", "web", "A", "B=-"], b"x", "A and B both ask for their value from stdin"),
        (&["config", "set", "web", "TOKEN"], b"a\0b", "NUL"),
        (&["config", "set", "web", "TOKEN"], b"\xff\xfe", "not UTF-8"),
        (&["config", "set", "web", "TOKEN"], &[b'x'; (1 << 20) + 1], "longer than 1 MiB"),
        (&["config", "set", "web", "bad", "A=1"], b"x", "invalid config var key"),
    ] {
        let run = run_with_stdin(&env, args, input);
        assert_eq!((run.code, run.stdout.as_str(), run.stderr.lines().count()), (2, "", 1), "{args:?}:\n{run}");
        assert!(run.stderr.contains(phrase), "{args:?}:\n{run}");
        assert_eq!(env.state_bytes(), before, "{args:?} changed the state");
    }
    // No stdin at all (the test environment's /dev/null) is refused the same way.
    assert!(env.fails(2, ["config", "set", "web", "TOKEN"]).contains("no value for TOKEN on stdin"));
    // A closed stdin too.
    let mut closed = Command::new("sh");
    closed
        .arg("-c")
        .arg("exec \"$0\" config set web TOKEN 0<&-")
        .arg(common::BIN)
        .env_clear()
        .env("HOME", env.root())
        .env("ADDONS_STATE", env.state_location());
    let output = closed.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!((output.status.code(), stderr.lines().count()), (Some(2), 1), "{output:?}");
    assert!(stderr.contains("TOKEN"), "{stderr}");
    assert_eq!(env.state_bytes(), before);
}
