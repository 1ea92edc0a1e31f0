//! Bad input and hostile files, driven through the real binary: a table of bad
//! arguments and config files, damaged and foreign state files, a locked state file,
//! the upgrade of a first-release state file, file modes under a permissive umask, and
//! secrets that must never reach output. Every refusal must be one line on stderr with
//! its exit code in docs/contract.md and leave the state directory byte-for-byte as it was.
//!
//! The server parts run against the servers named by ADDONS_TEST_POSTGRES_URL,
//! ADDONS_TEST_MYSQL_URL and ADDONS_TEST_REDIS_URL (skipped with a notice when unset,
//! unless ADDONS_TEST_REQUIRE_SERVERS=1).

use crate::common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::providers::Needs;
use common::servers;
use common::{mode, Run, TestEnv};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The `SECRET_KEY` of `web-secret` in the fixtures (see tests/fixtures/README.md).
const FIXTURE_WEB_SECRET_KEY: &str =
    "xwHUzBLOvxwzCBX9VSNa3rnuGTdQ0RPmgnsWWgqRniTKJA9vjKcWzv8xFNjg1x6meLhB2JHzEfUfRQ9cVgAc394do0k8XsJ4kOGd";
/// The `SIGNING_SECRET_KEY` of `api-signing` in the fixtures.
const FIXTURE_API_SIGNING_KEY: &str = "27a931daffa46cf9765231747a96f256";

/// The password in every admin URL of the hostile configs; it must never be echoed.
const ADMIN_PASSWORD: &str = "hunter2";

// ---- helpers --------------------------------------------------------------------------

/// `env` with its state a copy of a committed fixture (on PostgreSQL its rows in the
/// fresh schema).
fn with_fixture(env: TestEnv, name: &str) -> TestEnv {
    env.load_state_file(&Path::new(FIXTURES).join(name));
    env
}

/// A test environment whose state is the v1 fixture brought up to the current schema
/// (by one `list`), so that what a test then runs has nothing left to migrate.
fn current_state() -> TestEnv {
    let env = with_fixture(TestEnv::new(), "state-v1.db");
    env.ok(["list"]);
    env
}

/// Everything under a directory (the state file, its `-wal`/`-shm`, sqlite files):
/// each path with its mode and, for files, its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>)> {
    let mut found = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
            found.insert(path, (mode, None));
        } else if meta.is_file() {
            found.insert(path.clone(), (mode, Some(std::fs::read(&path).unwrap())));
        } else {
            found.insert(path, (mode, Some(b"(not a regular file)".to_vec())));
        }
    }
    found
}

/// `snapshot` of the state's directory, and on PostgreSQL every row of the state too.
fn state_snapshot(env: &TestEnv) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>)> {
    let mut found = snapshot(env.state.parent().unwrap());
    if env.postgres.is_some() {
        for (url, rows) in env.state_bytes() {
            found.insert(PathBuf::from(url), (0, Some(rows)));
        }
    }
    found
}

/// Says what differs between two snapshots, or nothing.
fn changes(
    before: &BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>,
    after: &BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>,
) -> String {
    let mut out = Vec::new();
    for (path, old) in before {
        match after.get(path) {
            None => out.push(format!("{} was removed", path.display())),
            Some(new) if new.0 != old.0 => {
                out.push(format!("{} changed mode {:o} -> {:o}", path.display(), old.0, new.0))
            }
            Some(new) if new.1 != old.1 => out.push(format!("{} changed its bytes", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|path| !before.contains_key(*path)) {
        out.push(format!("{} appeared", path.display()));
    }
    out.join("; ")
}

/// Expands the placeholders of the tables: `{ff}` a byte that is not UTF-8, `{long}`
/// 100 000 lowercase letters, `{LONG}` 100 000 uppercase letters, `{65}` 65 letters.
fn expand(text: &str) -> Vec<u8> {
    let text = text
        .replace("{long}", &"a".repeat(100_000))
        .replace("{LONG}", &"A".repeat(100_000))
        .replace("{65}", &"p".repeat(65));
    let mut bytes = Vec::new();
    for (i, part) in text.split("{ff}").enumerate() {
        if i > 0 {
            bytes.push(0xff);
        }
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes
}

fn os_args(args: &[&str]) -> Vec<OsString> {
    args.iter().map(|arg| OsString::from_vec(expand(arg))).collect()
}

/// An argument list as a short readable string for failure messages.
fn shown(args: &[&str]) -> String {
    let text = args.join(" ");
    if text.len() > 80 {
        format!("{}... ({} chars)", &text[..80], text.len())
    } else {
        text
    }
}

/// Runs a prepared command to completion.
fn finish(command: &mut Command) -> Run {
    let output = command.output().expect("run addons");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// docs/contract.md's bad-input rule for one run: exit `code`, nothing on stdout, one
/// short `error:` line on stderr holding `phrase`, and no password or fixture secret in it.
fn refusal_problems(run: &Run, code: i32, phrase: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if run.code != code {
        problems.push(format!("exit code {} instead of {code}", run.code));
    }
    if !run.stdout.is_empty() {
        problems.push("printed on stdout".to_string());
    }
    // A refusal that suggests config is its one line, a blank line, and the lines to
    // paste, which must be TOML as they are.
    let (first, block) = run.stderr.split_once("\n\n").unwrap_or((&run.stderr, ""));
    if !block.is_empty() && block.parse::<toml::Table>().is_err() {
        problems.push(format!("the lines after the error are not TOML to paste: {block:?}"));
    }
    let lines: Vec<&str> = first.lines().collect();
    if lines.len() != 1 || !run.stderr.ends_with('\n') {
        problems.push(format!("{} lines on stderr instead of one", lines.len()));
    }
    let line = lines.first().copied().unwrap_or_default();
    // Under --json the line is {"error": ..., "code": N}: its message is held to the same rules.
    let line = match serde_json::from_str::<serde_json::Value>(line) {
        Ok(error) if error["code"] == code => format!("error: {}", error["error"].as_str().unwrap_or_default()),
        _ => line.to_string(),
    };
    if !line.starts_with("error: ") || line.len() < 20 {
        problems.push("the line is not an 'error: ...' message".to_string());
    }
    if line.len() > 400 {
        problems.push(format!("the line is {} bytes long", line.len()));
    }
    if !line.to_lowercase().contains(&phrase.to_lowercase()) {
        problems.push(format!("the line lacks {phrase:?}"));
    }
    for secret in [ADMIN_PASSWORD, FIXTURE_WEB_SECRET_KEY, FIXTURE_API_SIGNING_KEY] {
        if run.stderr.contains(secret) {
            problems.push(format!("the line shows the secret {secret}"));
        }
    }
    problems
}

/// The test server of `provider`, or `None` (with a notice) when there is none to test
/// against and servers are not required.
fn server_url(provider: &str) -> Option<String> {
    servers::server(provider, &format!("the {} part of this test", servers::variable(provider)))
}

// ---- the bad-input table --------------------------------------------------------------

const PG_CLOSED: &str = "[providers.postgres]\nurl = \"postgres://postgres:hunter2@127.0.0.1:1/postgres\"\n";
const MYSQL_CLOSED: &str = "[providers.mysql]\nurl = \"mysql://root:hunter2@127.0.0.1:1\"\n";
const REDIS_CLOSED: &str = "[providers.redis]\nurl = \"redis://default:hunter2@127.0.0.1:1\"\n";

/// Config texts that stand for files which are not text: written by `write_config`.
const CONFIG_DIRECTORY: &str = "{directory}";
const CONFIG_DEEP: &str = "{deeply nested}";
const CONFIG_HUGE: &str = "{huge}";

/// `(arguments, config file ("" for none), exit code, a phrase the error line holds)`.
/// The state file is a copy of tests/fixtures/state-v1.db: apps web, api and worker;
/// addons web-secret, web-db, api-signing, api-pending, worker-gone, worker-broken.
#[rustfmt::skip]
const BAD_INPUTS: &[(&[&str], &str, i32, &str)] = &[
    // the command line itself
    (&["-v"], "", 2, "requires a subcommand"),
    (&["frobnicate"], "", 2, "unrecognized subcommand"),
    (&["--state"], "", 2, "a value is required"),
    (&["-q", "-v", "list"], "", 2, "cannot be used with"),
    (&["--json", "info", "nope"], "", 2, "no addon named"),
    (&["--json", "provision", "mongo", "web"], "", 2, "invalid value 'mongo' for '<PROVIDER>'"),
    // provision: providers, apps, names, prefixes, params, durations
    (&["provision", "mongo", "web"], "", 2, "[possible values: {providers}]"),
    (&["provision", "Secret", "web"], "", 2, "a similar value exists: 'secret'"),
    (&["provision", "secret", "My_App"], "", 2, "invalid app name"),
    (&["provision", "secret", "--", "-web"], "", 2, "invalid app name"),
    (&["provision", "secret", "{long}"], "", 2, "100000 chars"),
    (&["provision", "secret", "web\nx"], "", 2, "invalid app name"),
    (&["provision", "secret", "{ff}web"], "", 2, "invalid UTF-8"),
    (&["provision", "secret", "web", "--name", "x'; DROP TABLE addons; --"], "", 2, "invalid addon name"),
    (&["provision", "secret", "web", "--name", "$(touch /tmp/addons-pwned)"], "", 2, "invalid addon name"),
    (&["provision", "secret", "web", "--name", ""], "", 2, "invalid addon name"),
    (&["provision", "secret", "web", "--name", "Web-Key"], "", 2, "invalid addon name"),
    (&["provision", "secret", "web", "--name", "{long}"], "", 2, "invalid addon name"),
    (&["provision", "secret", "web", "--as", "a-b"], "", 2, "invalid prefix"),
    (&["provision", "secret", "web", "--as", "1st"], "", 2, "invalid prefix"),
    (&["provision", "secret", "web", "--as", "x\"; DROP ROLE postgres; --"], "", 2, "invalid prefix"),
    (&["provision", "secret", "web", "--as", "{65}"], "", 2, "invalid prefix"),
    (&["provision", "secret", "web", "--as", ""], "", 2, "invalid prefix"),
    (&["provision", "secret", "web", "--param", "length"], "", 2, "not KEY=VALUE"),
    (&["provision", "secret", "web", "--param", "colour=red"], "", 2, "unknown param"),
    (&["provision", "secret", "web", "--param", "Length=32"], "", 2, "lowercase"),
    (&["provision", "secret", "web", "--param", "length=8"], "", 2, "16 to 4096"),
    (&["provision", "secret", "web", "--param", "length=99999999999999999999999"], "", 2, "16 to 4096"),
    (&["provision", "secret", "web", "--param", "alphabet=emoji"], "", 2, "alnum, hex or base64url"),
    (&["provision", "secret", "web", "--param", "length=32", "--param", "length=33"], "", 2, "given twice"),
    (&["provision", "sqlite", "web", "--param", "path=/etc/passwd"], "", 2, "takes no params"),
    (&["provision", "secret", "web", "--wait", "--timeout", "5"], "", 2, "invalid duration"),
    (&["provision", "secret", "web", "--wait", "--timeout", "0s"], "", 2, "out of range"),
    (&["provision", "secret", "web", "--wait", "--timeout", "2years"], "", 2, "out of range"),
    (&["provision", "secret", "web", "--timeout", "5s"], "", 2, "--wait"),
    (&["provision", "postgres", "web"], "", 2, "not configured"),
    (&["provision", "mysql", "web"], "", 2, "not configured"),
    (&["provision", "redis", "web"], "", 2, "not configured"),
    (&["provision", "secret", "web", "--name", "web-secret"], "", 1, "already exists"),
    (&["provision", "secret", "web"], "", 1, "--as"),
    // provision against a server that does not answer: names are refused first
    (&["provision", "postgres", "web", "--name", "a'; DROP ROLE postgres; --"], PG_CLOSED, 2, "invalid addon name"),
    (&["provision", "mysql", "web", "--as", "x`; DROP USER root; --"], MYSQL_CLOSED, 2, "invalid prefix"),
    (&["provision", "redis", "web app"], REDIS_CLOSED, 2, "invalid app name"),
    (&["provision", "postgres", "web"], PG_CLOSED, 1, "can't provision"),
    // deprovision
    (&["deprovision", "nope"], "", 2, "no addon named"),
    (&["deprovision", "web-secret", "nope"], "", 2, "no addon named"),
    (&["deprovision", "' OR 1=1 --"], "", 2, "no addon named"),
    (&["deprovision", "%"], "", 2, "no addon named"),
    (&["deprovision", "web-secret", "--wait", "--timeout", "1x"], "", 2, "invalid duration"),
    (&["deprovision"], "", 2, "required"),
    // list, info, log
    (&["list", "Bad_App"], "", 2, "invalid app name"),
    (&["list", "web;ls"], "", 2, "invalid app name"),
    (&["list", "--bogus"], "", 2, "unexpected argument"),
    (&["info", "nope"], "", 2, "no addon named"),
    (&["info", "web-%"], "", 2, "no addon named"),
    (&["info", "{long}"], "", 2, "100000 chars"),
    (&["info"], "", 2, "required"),
    (&["log", "nope"], "", 2, "no addon named"),
    (&["log", "{ff}"], "", 2, "invalid UTF-8"),
    // tick, watch, wait
    (&["tick", "--jobs", "0"], "", 2, "1..=64"),
    (&["tick", "--jobs", "65"], "", 2, "1..=64"),
    (&["tick", "--jobs", "abc"], "", 2, "invalid digit"),
    (&["watch", "--jobs", "-1"], "", 2, "unexpected argument"),
    (&["watch", "--forever", "--jobs", "99999999999"], "", 2, "--jobs"),
    (&["wait", "nope"], "", 2, "no addon named"),
    (&["wait", "web-secret", "--timeout", "1x"], "", 2, "invalid duration"),
    (&["wait", "web-secret", "--timeout", "1000y"], "", 2, "out of range"),
    (&["wait"], "", 2, "required"),
    // env, run
    (&["env", "nope"], "", 2, "no app named"),
    (&["env", "web", "--format", "yaml"], "", 2, "invalid value"),
    (&["env", "Bad"], "", 2, "invalid app name"),
    (&["run", "web"], "", 2, "required"),
    (&["run", "nope", "--", "true"], "", 2, "no app named"),
    (&["run", "web$(id)", "--", "true"], "", 2, "invalid app name"),
    (&["run", "web", "--", "/nonexistent/command"], "", 127, "can't run"),
    // config
    (&["config", "set", "web", "lower=1"], "", 2, "invalid config var key"),
    (&["config", "set", "web", "NOEQ"], "", 2, "no value for NOEQ on stdin"),
    (&["config", "set", "web", "A=-"], "", 2, "no value for A on stdin"),
    (&["config", "set", "web", "A", "B=-"], "", 2, "A and B both ask for their value from stdin"),
    (&["config", "set", "web", "A B=1"], "", 2, "invalid config var key"),
    (&["config", "set", "web", "{LONG}=1"], "", 2, "100000 chars"),
    (&["config", "set", "web", "A=1", "A=2"], "", 2, "given twice"),
    (&["config", "set", "web;rm -rf /", "A=1"], "", 2, "invalid app name"),
    (&["config", "set", "web", "A={ff}"], "", 2, "invalid UTF-8"),
    (&["config", "set", "web", "SECRET_KEY=x"], "", 1, "set by addon"),
    (&["config", "unset", "web", "DATABASE_URL"], "", 1, "set by addon"),
    (&["config", "unset", "web", "NOPE"], "", 2, "no config var"),
    // labels, selectors, expiry durations and times, --ensure
    (&["provision", "secret", "web", "--label", "branch"], "", 2, "not KEY=VALUE"),
    (&["provision", "secret", "web", "--label=-x=1"], "", 2, "invalid label key"),
    (&["provision", "secret", "web", "--label", "a/b/c=1"], "", 2, "at most one '/'"),
    (&["provision", "secret", "web", "--label", "Bad_Prefix.com/x=1"], "", 2, "invalid label key"),
    (&["provision", "secret", "web", "--label", "{65}=1"], "", 2, "invalid label key"),
    (&["provision", "secret", "web", "--label", "k={65}"], "", 2, "for label \"k\""),
    (&["provision", "secret", "web", "--label", "k=a b"], "", 2, "for label \"k\""),
    (&["provision", "secret", "web", "--label", "k=x'; DROP TABLE addons; --"], "", 2, "for label \"k\""),
    (&["provision", "secret", "web", "--label", "k=1", "--label", "k=2"], "", 2, "given twice"),
    (&["provision", "secret", "web", "--label", "addons/scope=ci"], "", 2, "set by addons itself"),
    (&["provision", "secret", "web", "--expires-in", "0s"], "", 2, "--expires-in"),
    (&["provision", "secret", "web", "--expires-in", "soon"], "", 2, "--expires-in"),
    (&["provision", "secret", "web", "--expires-in", "400d"], "", 2, "--expires-in"),
    (&["provision", "secret", "web", "--expires-at", "2020-01-01T00:00:00Z"], "", 2, "in the past"),
    (&["provision", "secret", "web", "--expires-at", "2026-12-01T18:00:00"], "", 2, "--expires-at"),
    (&["provision", "secret", "web", "--expires-at", "tomorrow"], "", 2, "--expires-at"),
    (&["provision", "secret", "web", "--expires-in", "1d", "--expires-at", "2099-01-01T00:00:00Z"], "", 2, "cannot be used with"),
    (&["provision", "secret", "web", "--ensure"], "", 2, "--name"),
    (&["label", "web-secret"], "", 2, "required"),
    (&["label", "web-secret", "branch"], "", 2, "neither KEY=VALUE"),
    (&["label", "web-secret", "k=1", "k-"], "", 2, "named twice"),
    (&["label", "web-secret", "addons/scope-"], "", 2, "set by addons itself"),
    (&["label", "nope", "k=1"], "", 2, "no addon named"),
    (&["expire", "web-secret", "-1d"], "", 2, "unexpected argument"),
    (&["expire", "web-secret", "2020-01-01T00:00:00Z"], "", 2, "in the past"),
    (&["expire", "web-secret", "forever"], "", 2, "never"),
    (&["expire", "web-secret", "{long}"], "", 2, "expire"),
    (&["expire", "nope", "1d"], "", 2, "no addon named"),
    (&["list", "--selector", ""], "", 2, "selector is empty"),
    (&["list", "--selector", "env in (a,b)"], "", 2, "set-based"),
    (&["list", "--selector", "a=b=c"], "", 2, "invalid value \"b=c\""),
    (&["list", "--selector", "k=x'; DROP TABLE addons; --"], "", 2, "for label \"k\""),
    (&["list", "--expired", "--all"], "", 2, "cannot be used with"),
    (&["list", "-o", "yaml"], "", 2, "invalid value"),
    (&["deprovision", "--selector", ","], "", 2, "selector"),
    (&["deprovision"], "", 2, "required"),
    (&["deprovision", "--app", "Bad_App"], "", 2, "invalid app name"),
    (&["wait", "--selector", "!"], "", 2, "label key"),
    // apply files (written by the row's file text, see APPLY_FILES)
    (&["apply"], "", 2, "required"),
    (&["apply", "-f", "missing.toml"], "", 2, "missing.toml"),
    (&["apply", "-f", "{apply:unknown-key}"], "", 2, "line 5"),
    (&["apply", "-f", "{apply:duplicate}"], "", 2, "line 6"),
    (&["apply", "-f", "{apply:bad-label}"], "", 2, "line 5"),
    (&["apply", "-f", "{apply:bad-duration}"], "", 2, "line 5"),
    (&["apply", "-f", "{apply:no-scope}"], "", 2, "no scope"),
    (&["apply", "-f", "{apply:bad-provider}"], "", 2, "line 4"),
    (&["apply", "-f", "{apply:not-toml}"], "", 2, "line 1"),
    (&["apply", "-f", "{apply:injection}"], "", 2, "line 3"),
    (&["config", "unset", "web", "X' OR '1'='1"], "", 2, "invalid config var key"),
    (&["config"], "", 2, "required"),
    // providers, graph, completions
    (&["providers", "extra"], "", 2, "unrecognized subcommand 'extra'"),
    (&["graph", "--format", "png"], "", 2, "invalid value"),
    (&["completions", "tcsh"], "", 2, "invalid value"),
    // malformed and hostile config files
    (&["list"], "[[[", 2, "line 1"),
    (&["tick"], "[engine]\nspeed = 3\n", 2, "line 2"),
    (&["providers"], "[providers.postgres]\nurl = \"postgres:///db\"\n", 2, "has no host"),
    (&["info", "web-secret"], "[providers.postgres]\nurl = \"mysql://root:hunter2@h/x\"\n", 2, "must start with postgres://"),
    (&["env", "web"], "[providers.redis]\nurl = \"redis://\"\n", 2, "has no host"),
    (&["env", "web"], "[providers.mysql]\nurl = \"mysql://root:hunter2@:3306\"\n", 2, "providers.mysql.url"),
    (&["list"], "[providers.postgres]\nurl = \"not a url\"\n", 2, "is not a URL"),
    (&["watch"], "[engine]\nprovision_timeout = \"soon\"\n", 2, "engine.provision_timeout"),
    (&["wait", "web-secret"], "[engine]\nclaim_timeout = \"-5s\"\n", 2, "engine.claim_timeout"),
    (&["tick"], "[engine]\njobs = 0\n", 2, "1 to 64"),
    (&["list"], "[engine]\njobs = 99999999999999999999999\n", 2, "line 2"),
    (&["config", "web"], "[apps.\"x;rm -rf /\"]\nenv_file = \"/tmp/x\"\n", 2, "invalid app name"),
    (&["provision", "secret", "web", "--as", "x"], "[providers.postgres]\nurl = \"postgres://h/db\"\npublic_host = \"evil@host/x\"\n", 2, "public_host"),
    (&["tick"], "[providers.postgres]\nurl = \"postgres://h/db\"\npublic_host = \"db#x\"\n", 2, "line 3: providers.postgres.public_host"),
    (&["tick"], "[providers.mysql]\nurl = \"mysql://h\"\npublic_host = \"a|b\"\n", 2, "line 3: providers.mysql.public_host"),
    (&["tick"], "[providers.redis]\nurl = \"redis://h\"\npublic_host = \"db\\u0000x\"\n", 2, "line 3: providers.redis.public_host"),
    (&["list"], "[engine]\njobs = \"postgres://u:hunter2@h/d?password=hunter2\"\n", 2, "postgres://u:****@h/d?password=****"),
    (&["list"], "a = \"\0\"\n", 2, "line 1"),
    (&["list"], "{ff}[engine]\n", 2, "not UTF-8"),
    (&["list"], CONFIG_DIRECTORY, 2, "is a directory"),
    (&["list"], CONFIG_DEEP, 2, "recurs"),
    (&["log", "web-secret"], CONFIG_HUGE, 2, "line 1"),
];

/// Writes the config file of a table row.
fn write_config(env: &TestEnv, config: &str) {
    match config {
        "" => {}
        CONFIG_DIRECTORY => std::fs::create_dir(&env.config).unwrap(),
        CONFIG_DEEP => {
            std::fs::write(&env.config, format!("a = {}{}\n", "[".repeat(100_000), "]".repeat(100_000))).unwrap()
        }
        CONFIG_HUGE => std::fs::write(&env.config, format!("x = \"{}\n", "a".repeat(1_000_000))).unwrap(),
        text => std::fs::write(&env.config, expand(text)).unwrap(),
    }
}

/// The apply files of the table's `{apply:NAME}` arguments: each bad in one way.
const APPLY_FILES: &[(&str, &str)] = &[
    ("unknown-key", "scope = \"ci\"\n[[addon]]\nname = \"a\"\nprovider = \"secret\"\ncolour = \"red\"\napp = \"web\"\n"),
    ("duplicate", "scope = \"ci\"\n[[addon]]\nname = \"a\"\nprovider = \"secret\"\napp = \"web\"\n[[addon]]\nname = \"a\"\nprovider = \"secret\"\napp = \"api\"\n"),
    ("bad-label", "scope = \"ci\"\n[[addon]]\nname = \"a\"\nprovider = \"secret\"\nlabels = { \"-x\" = \"1\" }\napp = \"web\"\n"),
    ("bad-duration", "scope = \"ci\"\n[[addon]]\nname = \"a\"\nprovider = \"secret\"\nexpires_in = \"0s\"\napp = \"web\"\n"),
    ("no-scope", "[[addon]]\nname = \"a\"\nprovider = \"secret\"\napp = \"web\"\n"),
    ("bad-provider", "scope = \"ci\"\n[[addon]]\nname = \"a\"\nprovider = \"mongo\"\napp = \"web\"\n"),
    ("not-toml", "[[[\n"),
    ("injection", "scope = \"ci\"\n[[addon]]\nname = \"x'; DROP TABLE addons; --\"\nprovider = \"secret\"\napp = \"web\"\n"),
];

/// Runs one row of the table; returns what went wrong, if anything.
fn bad_input_problems(args: &[&str], config: &str, code: i32, phrase: &str) -> Option<String> {
    let env = current_state();
    write_config(&env, config);
    let owned: Vec<String> = args
        .iter()
        .map(|arg| match arg.strip_prefix("{apply:").and_then(|rest| rest.strip_suffix('}')) {
            Some(name) => {
                let text = APPLY_FILES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text).unwrap();
                let path = env.root().join(format!("{name}.toml"));
                std::fs::write(&path, text).unwrap();
                path.display().to_string()
            }
            None => arg.to_string(),
        })
        .collect();
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let args = args.as_slice();
    let before = state_snapshot(&env);
    let run = finish(&mut env.command(os_args(args)));
    // `{providers}` in a phrase stands for the registry's names, as clap lists them.
    let phrase = phrase.replace("{providers}", &common::providers::listed());
    let mut problems = refusal_problems(&run, code, &phrase);
    let changed = changes(&before, &state_snapshot(&env));
    if !changed.is_empty() {
        problems.push(format!("the state changed: {changed}"));
    }
    (!problems.is_empty()).then(|| format!("addons {}: {}\n{run}", shown(args), problems.join("; ")))
}

#[test]
fn every_bad_input_is_one_line_with_its_exit_code_and_changes_nothing() {
    assert!(BAD_INPUTS.len() >= 40);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = BAD_INPUTS
            .chunks(BAD_INPUTS.len().div_ceil(8))
            .map(|rows| {
                scope.spawn(move || {
                    rows.iter()
                        .filter_map(|(args, config, code, phrase)| bad_input_problems(args, config, *code, phrase))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().unwrap()).collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs broke the contract:\n\n{}",
        failures.len(),
        BAD_INPUTS.len(),
        failures.join("\n")
    );
}

// ---- bad state files ------------------------------------------------------------------

/// A few bytes that a seeded generator makes the same on every run.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn truncate_to(path: &Path, len: u64) {
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

/// Turns the copy of the v1 fixture at the state path into a bad state file.
type Spoil = fn(&Path);

/// `(what, how to spoil the v1 copy at the state path, a phrase saying what to do)`.
#[rustfmt::skip]
const BAD_STATE_FILES: &[(&str, Spoil, &str)] = &[
    ("truncated to half", |path| truncate_to(path, 30_000), "restore it from a backup"),
    ("truncated inside the first page", |path| truncate_to(path, 100), "restore it from a backup"),
    ("random bytes", |path| std::fs::write(path, noise(50_000, 0x5eed)).unwrap(), "pass another --state path"),
    ("a SQLite header and then random bytes", |path| {
        let mut bytes = b"SQLite format 3\0".to_vec();
        bytes.extend(noise(8192, 42));
        std::fs::write(path, bytes).unwrap();
    }, "pass another --state path"),
    ("zero-length", |path| std::fs::write(path, b"").unwrap(), "remove it"),
    ("from a newer schema", |path| { std::fs::copy(Path::new(FIXTURES).join("state-newer.db"), path).unwrap(); }, "upgrade addons"),
    ("read-only", |path| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o400)).unwrap(), "chmod 600"),
    ("a directory", |path| {
        std::fs::remove_file(path).unwrap();
        std::fs::create_dir(path).unwrap();
        std::fs::write(path.join("keep"), b"mine").unwrap();
    }, "pass a file path with --state"),
    ("a named pipe", |path| {
        std::fs::remove_file(path).unwrap();
        let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    }, "not a regular file"),
    ("another program's SQLite database", |path| {
        std::fs::remove_file(path).unwrap();
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');").unwrap();
    }, "pass another --state path"),
];

/// Every command that opens the state file, reading or writing.
const STATE_COMMANDS: &[&[&str]] = &[
    &["list"],
    &["list", "--all", "--json"],
    &["info", "web-secret"],
    &["log", "web-secret"],
    &["env", "web"],
    &["run", "web", "--", "true"],
    &["config", "web"],
    &["config", "set", "web", "A=1"],
    &["config", "unset", "web", "DEBUG"],
    &["provision", "secret", "web", "--as", "extra"],
    &["provision", "sqlite", "fresh"],
    &["deprovision", "web-secret"],
    &["tick"],
    &["watch"],
    &["wait", "web-secret"],
];

#[test]
fn every_bad_state_file_is_refused_with_exit_4_and_left_alone() {
    let mut failures = Vec::new();
    for (what, spoil, advice) in BAD_STATE_FILES {
        for args in STATE_COMMANDS {
            let env = with_fixture(TestEnv::on_sqlite_file(), "state-v1.db");
            spoil(&env.state);
            let state_dir = env.state.parent().unwrap();
            let before = snapshot(state_dir);
            let run = env.run_within(Duration::from_secs(30), args.iter());
            let mut problems = refusal_problems(&run, 4, advice);
            if !run.stderr.contains(&format!("state file {}", env.state.display())) {
                problems.push("the line does not name the state file".into());
            }
            let changed = changes(&before, &snapshot(state_dir));
            if !changed.is_empty() {
                problems.push(format!("the state changed: {changed}"));
            }
            if !problems.is_empty() {
                failures.push(format!("{what}: addons {}: {}\n{run}", args.join(" "), problems.join("; ")));
            }
        }
    }
    assert!(failures.is_empty(), "{} refusals broke the contract:\n\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_state_file_locked_past_the_busy_timeout_is_refused_with_exit_4() {
    let env = with_fixture(TestEnv::on_sqlite_file(), "state-v1.db");
    let state_dir = env.state.parent().unwrap();
    let before = snapshot(state_dir);
    let holder = rusqlite::Connection::open(&env.state).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let writes: &[&[&str]] = &[
        &["config", "set", "web", "A=1"],
        &["config", "unset", "web", "DEBUG"],
        &["provision", "secret", "web", "--as", "extra"],
        &["provision", "sqlite", "fresh"],
        &["deprovision", "web-secret"],
        &["tick"],
    ];
    for args in writes {
        let started = Instant::now();
        let run = finish(env.command(args.iter()).env("ADDONS_BUSY_TIMEOUT_MS", "300"));
        let problems = refusal_problems(&run, 4, "locked by another process");
        assert!(problems.is_empty(), "addons {}: {}\n{run}", args.join(" "), problems.join("; "));
        assert!(run.stderr.contains("try again"), "{run}");
        assert!(started.elapsed() < Duration::from_secs(8), "the busy timeout was not applied: {run}");
    }
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let changed = changes(&before, &snapshot(state_dir));
    assert!(changed.is_empty(), "the state changed: {changed}");
    // The lock was the only problem: with it gone the same write works.
    env.ok(["config", "set", "web", "A=1"]);
}

#[test]
fn read_only_commands_leave_the_state_file_byte_for_byte_unchanged() {
    let env = current_state();
    let before = state_snapshot(&env);
    for args in [
        &["list"][..],
        &["list", "--all", "--json"],
        &["list", "web"],
        &["info", "web-secret", "--reveal"],
        &["info", "worker-broken", "--json"],
        &["log", "api-signing", "--json"],
        &["env", "web"],
        &["env", "api", "--format", "json"],
        &["config", "web", "--reveal"],
        &["run", "web", "--", "true"],
        &["providers"],
        &["graph"],
    ] {
        env.ok(args);
        let changed = changes(&before, &state_snapshot(&env));
        assert!(changed.is_empty(), "addons {}: the state changed: {changed}", args.join(" "));
    }
}

// ---- the first released schema --------------------------------------------------------

#[test]
fn a_state_file_of_the_first_released_schema_opens_with_its_data() {
    let env = with_fixture(TestEnv::on_sqlite_file(), "state-v1.db");
    let version = |env: &TestEnv| -> i64 {
        rusqlite::Connection::open(&env.state).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    };
    assert_eq!(version(&env), 1, "the fixture is the first released schema");
    let addons = env.json(["list", "--all", "--json"]);
    assert!(version(&env) > 1, "opening the fixture did not migrate it forward");
    let rows: Vec<(String, String, String, String)> = addons
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let field = |key: &str| a[key].as_str().unwrap_or("-").to_string();
            (field("name"), field("provider"), field("app"), field("state"))
        })
        .collect();
    let expected = [
        ("api-signing", "secret", "api", "ready"),
        ("api-pending", "secret", "api", "waiting_for_provision"),
        ("web-secret", "secret", "web", "ready"),
        ("web-db", "sqlite", "web", "ready"),
        ("worker-gone", "secret", "worker", "deprovisioned"),
        ("worker-broken", "sqlite", "worker", "error"),
    ];
    let mut sorted = rows.clone();
    sorted.sort();
    let mut wanted: Vec<_> =
        expected.iter().map(|(n, p, a, s)| (n.to_string(), p.to_string(), a.to_string(), s.to_string())).collect();
    wanted.sort();
    assert_eq!(sorted, wanted, "{addons:#}");

    let live: Vec<String> = env
        .json(["list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(live.len(), 4, "{live:?}");
    assert!(!live.iter().any(|name| name.starts_with("worker-")), "{live:?}");

    let web_secret = env.json(["info", "web-secret", "--json"]);
    assert_eq!(web_secret["id"], "3ac63510d863836b");
    assert_eq!(web_secret["vars"], serde_json::json!(["SECRET_KEY"]));
    let signing = env.json(["info", "api-signing", "--json"]);
    assert_eq!(signing["prefix"], "SIGNING");
    assert_eq!(signing["vars"], serde_json::json!(["SIGNING_SECRET_KEY"]));
    let info = env.ok(["info", "web-secret", "--reveal"]).stdout;
    assert!(info.contains(FIXTURE_WEB_SECRET_KEY), "{info}");

    assert_eq!(
        env.json(["env", "web", "--format", "json"]),
        serde_json::json!({
            "DATABASE_URL": "sqlite:///tmp/addons-fixture/sqlite/f518c22f89f5efce.db",
            "DEBUG": "1",
            "GREETING": "hello world",
            "SECRET_KEY": FIXTURE_WEB_SECRET_KEY,
        })
    );
    assert_eq!(
        env.json(["env", "api", "--format", "json"]),
        serde_json::json!({"API_TOKEN": "tok-123", "SIGNING_SECRET_KEY": FIXTURE_API_SIGNING_KEY})
    );

    let steps = |name: &str| -> Vec<String> {
        env.json(["log", name, "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}", e["to"].as_str().unwrap(), e["event"].as_str().unwrap()))
            .collect()
    };
    let provisioned = ["waiting_for_provision provision", "provisioned provision_complete", "ready config_vars_set"];
    assert_eq!(steps("web-secret"), provisioned);
    assert_eq!(steps("worker-gone")[..3], provisioned);
    assert_eq!(steps("worker-gone")[3..], ["deprovisioned deprovision", "deprovisioned cleanup"]);
    assert_eq!(steps("worker-broken"), ["waiting_for_provision provision", "error fail"]);

    // The old file is a working state file: its pending work goes on.
    let settled = env.run_within(Duration::from_secs(60), ["wait", "api-pending", "--json"]);
    assert_eq!(settled.code, 0, "{settled}");
    assert_eq!(env.json(["info", "api-pending", "--json"])["state"], "ready");
    let conn = rusqlite::Connection::open(&env.state).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
    let application_id: i64 = conn.pragma_query_value(None, "application_id", |row| row.get(0)).unwrap();
    assert!(version >= 1, "user_version {version}");
    assert_eq!(application_id, 0x6164_6473);
}

// ---- file modes -----------------------------------------------------------------------

#[test]
fn state_and_env_files_are_private_even_with_a_permissive_umask() {
    let env = TestEnv::new();
    let state = env.root().join("a/b/c/state.db");
    let env_file = env.root().join("envs/deep/x.env");
    env.write_config(&format!("[apps.x]\nenv_file = {:?}\n", env_file.display().to_string()));
    let permissive = |args: &[&str]| {
        let mut command = env.command(args);
        command.env("ADDONS_STATE", &state);
        // SAFETY: umask is async-signal-safe and touches nothing but the child.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
        let run = finish(&mut command);
        assert_eq!(run.code, 0, "addons {}:\n{run}", args.join(" "));
    };
    permissive(&["config", "set", "x", "A=1"]);
    permissive(&["provision", "secret", "x", "--wait"]);
    permissive(&["provision", "sqlite", "x", "--wait"]);
    assert_eq!(mode(&state), 0o600);
    assert_eq!(mode(&env_file), 0o600);
    assert!(std::fs::read_to_string(&env_file).unwrap().contains("SECRET_KEY="));
    for top in ["a", "envs"] {
        for (path, (bits, bytes)) in snapshot(&env.root().join(top)) {
            let want = if bytes.is_some() { 0o600 } else { 0o700 };
            assert_eq!(bits & 0o777, want, "{} has mode {:o}", path.display(), bits & 0o777);
        }
    }
    // An existing state file that others can read is tightened on the next open.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o644)).unwrap();
    permissive(&["list"]);
    assert_eq!(mode(&state), 0o600);
}

// ---- secrets never reach output -------------------------------------------------------

/// Every 12-character piece of each secret, so a half-masked value is caught too.
fn pieces(secrets: &[String]) -> Vec<String> {
    let mut pieces = Vec::new();
    for secret in secrets {
        let chars: Vec<char> = secret.chars().collect();
        if chars.len() <= 12 {
            pieces.push(secret.clone());
        } else {
            pieces.extend(chars.windows(12).map(|w| w.iter().collect::<String>()));
        }
    }
    pieces
}

/// Fails when any run's stdout or stderr shows a piece of a secret.
fn assert_no_secret_in(runs: &[(String, Run)], secrets: &[String]) {
    assert!(!secrets.is_empty());
    let pieces = pieces(secrets);
    for (what, run) in runs {
        for piece in &pieces {
            assert!(
                !run.stdout.contains(piece.as_str()) && !run.stderr.contains(piece.as_str()),
                "addons {what} shows (part of) a secret, {piece:?}:\n{run}"
            );
        }
    }
}

/// Runs each command, with and without `-v`, and keeps what it printed.
fn outputs(env: &TestEnv, commands: &[&[&str]]) -> Vec<(String, Run)> {
    let mut runs = Vec::new();
    for args in commands {
        for verbose in [false, true] {
            let mut full: Vec<&str> = if verbose { vec!["-v"] } else { vec![] };
            full.extend_from_slice(args);
            let run = env.run_within(Duration::from_secs(60), &full);
            runs.push((full.join(" "), run));
        }
    }
    runs
}

/// The commands that must mask every value, run against an app `web` with addon `named`.
fn masking_commands(named: &str) -> Vec<Vec<String>> {
    let mut lines: Vec<Vec<&str>> =
        vec![vec!["list"], vec!["list", "--all"], vec!["list", "web"], vec!["--json", "list", "--all"]];
    // Each of these, as it is and then with --json.
    for args in
        [&["info", "@"][..], &["log", "@"], &["tick"], &["watch"], &["wait", "@"], &["config", "web"], &["providers"]]
    {
        lines.push(args.to_vec());
        lines.push([args, &["--json"]].concat());
    }
    lines.push(vec!["graph"]);
    lines.iter().map(|args| args.iter().map(|a| if *a == "@" { named } else { a }.to_string()).collect()).collect()
}

fn run_all(env: &TestEnv, commands: &[Vec<String>]) -> Vec<(String, Run)> {
    let borrowed: Vec<Vec<&str>> = commands.iter().map(|c| c.iter().map(String::as_str).collect()).collect();
    let slices: Vec<&[&str]> = borrowed.iter().map(Vec::as_slice).collect();
    outputs(env, &slices)
}

#[test]
fn no_secret_value_appears_outside_env_run_and_reveal() {
    let env = TestEnv::new();
    let mut runs = Vec::new();
    let mut keep = |what: &str, run: Run| {
        assert!(run.code == 0 || what.contains("SECRET_KEY="), "addons {what}:\n{run}");
        runs.push((what.to_string(), run));
    };
    keep("provision secret web -v", env.run(["-v", "provision", "secret", "web", "--name", "key-one", "--wait"]));
    let other = env.run([
        "-v",
        "--json",
        "provision",
        "secret",
        "web",
        "--as",
        "other",
        "--param",
        "alphabet=base64url",
        "--wait",
    ]);
    let other_name = other.json()["name"].as_str().unwrap().to_string();
    keep("provision secret --json", other);
    keep("provision secret (no wait)", env.run(["-v", "provision", "secret", "web", "--as", "later"]));
    keep("provision sqlite", env.run(["-v", "provision", "sqlite", "web", "--wait"]));
    let token = "tok-Zq8fW3nLx0Rb7Yc2Vd5Mh9Kp4";
    keep("config set", env.run(["-v", "config", "set", "web", &format!("API_TOKEN={token}")]));
    let vars = env.vars("web");
    let mut secrets: Vec<String> = ["SECRET_KEY", "OTHER_SECRET_KEY", "API_TOKEN"]
        .iter()
        .map(|key| vars.get(*key).unwrap_or_else(|| panic!("no {key}: {vars:?}")).clone())
        .collect();
    assert_eq!(secrets[2], token);
    // A sqlite DATABASE_URL holds no password, so it is shown whole by design.
    assert!(vars["DATABASE_URL"].starts_with("sqlite:///"));

    runs.extend(run_all(&env, &masking_commands("key-one")));
    // The addon provisioned without --wait gets its value during those ticks.
    let later = env.vars("web").get("LATER_SECRET_KEY").expect("LATER_SECRET_KEY after the ticks").clone();
    secrets.push(later);
    // Refusals that involve a secret: the value typed must not be echoed back.
    let refused = env.run(["config", "set", "web", &format!("SECRET_KEY={}", secrets[0])]);
    assert_eq!(refused.code, 1, "{refused}");
    runs.push(("config set SECRET_KEY=<the secret>".into(), refused));
    let refused = env.run(["-v", "provision", "secret", "web"]);
    assert_eq!(refused.code, 1, "{refused}");
    runs.push(("provision secret web (conflict)".into(), refused));

    // The grep can fail: the revealing commands do show the values.
    let revealed = env.ok(["info", "key-one", "--reveal"]).stdout;
    assert!(revealed.contains(&secrets[0]), "info --reveal: {revealed}");
    let revealed = env.json(["info", &other_name, "--reveal", "--json"]);
    assert_eq!(revealed["config"]["OTHER_SECRET_KEY"], secrets[1].as_str(), "{revealed:#}");
    let config = env.ok(["config", "web", "--reveal"]).stdout;
    for secret in &secrets {
        assert!(config.contains(secret.as_str()), "config --reveal lacks {secret}: {config}");
    }
    assert_eq!(env.json(["config", "web", "--reveal", "--json"])["API_TOKEN"], token);
    let shell = env.ok(["env", "web"]).stdout;
    assert!(secrets.iter().all(|secret| shell.contains(secret.as_str())), "{shell}");
    let ran = env.ok(["run", "web", "--", "sh", "-c", "echo \"$OTHER_SECRET_KEY\""]).stdout;
    assert_eq!(ran.trim_end(), secrets[1]);

    // Deprovisioning shows no value either.
    runs.push(("deprovision --wait".into(), env.run(["-v", "deprovision", "key-one", "--wait"])));
    let deprovisioned = env.run(["-v", "--json", "deprovision", &other_name, "later-name-unused"]);
    assert_eq!(deprovisioned.code, 2, "{deprovisioned}");
    runs.push(("deprovision (one unknown)".into(), deprovisioned));
    let deprovisioned = env.run(["-v", "--json", "deprovision", &other_name, "--wait"]);
    assert_eq!(deprovisioned.code, 0, "{deprovisioned}");
    runs.push(("deprovision --json --wait".into(), deprovisioned));
    runs.extend(run_all(&env, &masking_commands("key-one")));
    assert_no_secret_in(&runs, &secrets);
}

// ---- servers: hostile names never reach them, their passwords never reach output -----

/// `--name` values that try to escape an identifier or a shell word; none is valid.
const HOSTILE_NAMES: &[&str] = &[
    "x'; DROP ROLE postgres; --",
    "x\"; DROP DATABASE postgres; --",
    "x`; DROP USER root; --",
    "$(touch /tmp/addons-pwned)",
    "a;b",
    "a b",
    "a\\b",
    "a\nb",
    "%",
    "*",
    "../x",
    "名前",
    "{long}",
];

/// `--as` values that try the same; a prefix ends up in config var keys and nowhere else.
const HOSTILE_PREFIXES: &[&str] = &[
    "x'; DROP ROLE postgres; --",
    "x\"; DROP DATABASE postgres; --",
    "x`",
    "$(id)",
    "a-b",
    "a b",
    "*",
    "名前",
    "{65}",
];

/// Provisions with every hostile name, prefix and app; each must be refused as bad
/// input (exit 2, the name's own message), not as a server problem.
fn provision_hostile(env: &TestEnv, provider: &str) {
    let mut rows: Vec<(Vec<&str>, &str)> = Vec::new();
    for name in HOSTILE_NAMES {
        rows.push((vec!["provision", provider, "web", "--name", name], "invalid addon name"));
        rows.push((vec!["provision", provider, name], "invalid app name"));
    }
    for prefix in HOSTILE_PREFIXES {
        rows.push((vec!["provision", provider, "web", "--as", prefix, "--wait"], "invalid prefix"));
    }
    for (args, phrase) in rows {
        let run = finish(&mut env.command(os_args(&args)));
        let problems = refusal_problems(&run, 2, phrase);
        assert!(problems.is_empty(), "addons {}: {}\n{run}", shown(&args), problems.join("; "));
    }
    assert!(!env.state.exists(), "a refused provision created the state file");
}

/// The providers whose provisions this suite tries with hostile input: the registry's.
pub(crate) fn providers() -> Vec<&'static str> {
    common::providers::names()
}

#[test]
fn hostile_names_are_refused_before_any_server_is_touched() {
    for provider in providers() {
        hostile_names_are_refused_by(provider);
    }
}

/// Hostile names for one provider are refused as bad input; then a good name provisions
/// (or, for a server provider pointed at a closed port, fails at the server).
pub(crate) fn hostile_names_are_refused_by(provider: &str) {
    let env = TestEnv::new();
    if common::providers::needs(provider) != Needs::Server {
        env.write_config(&common::providers::serverless_config(provider));
        provision_hostile(&env, provider);
        assert!(!env.data_dir().exists(), "{provider}: a refused provision made the data directory");
        // The refusals were the names': the same provider provisions a good one.
        env.ok(["provision", provider, "web", "--wait"]);
        return;
    }
    // Nothing listens on port 1: a provision that got as far as the server fails with a
    // connection error, not with the name's message.
    env.write_config(&servers::config(
        provider,
        &common::providers::closed_url(provider, "root", ADMIN_PASSWORD, "127.0.0.1"),
    ));
    provision_hostile(&env, provider);
    let run = env.run(["provision", provider, "web"]);
    let problems = refusal_problems(&run, 1, "can't provision");
    assert!(problems.is_empty(), "a valid provision against a closed port: {}\n{run}", problems.join("; "));
}

#[test]
fn hostile_names_leave_a_real_server_untouched() {
    for provider in common::providers::on_servers() {
        let Some(url) = server_url(provider) else { continue };
        // Other tests use the server meanwhile: what this test's commands did to it is
        // told by the connections they made, through a relay of their own.
        let relay = servers::Relay::to(&url);
        let env = TestEnv::with_config(&servers::config(provider, &relay.url));
        provision_hostile(&env, provider);
        assert_eq!(relay.connections(), 0, "{provider}: a refused provision connected to the server");
        // The relay does reach the server: a health check goes through it.
        let providers = env.json(["providers", "--json"]);
        let entry = providers.as_array().unwrap().iter().find(|p| p["name"] == provider).unwrap();
        assert_eq!(entry["status"], "ok", "{provider} through the relay: {entry}");
        assert!(relay.connections() > 0, "{provider}: the health check did not go through the relay");
    }
}

#[test]
fn passwords_handed_out_by_servers_never_reach_output() {
    for provider in common::providers::on_servers() {
        let Some(url) = server_url(provider) else { continue };
        let env = TestEnv::with_config(&servers::config(provider, &url));
        let mut runs = Vec::new();
        let provisioned = env.run(["-v", "provision", provider, "web", "--name", "on-server", "--wait"]);
        assert_eq!(provisioned.code, 0, "provision {provider}:\n{provisioned}");
        runs.push((format!("provision {provider}"), provisioned));
        let provisioned = env.run(["-v", "--json", "provision", provider, "web", "--as", "second", "--wait"]);
        assert_eq!(provisioned.code, 0, "provision {provider} --json:\n{provisioned}");
        let second = provisioned.json()["name"].as_str().unwrap().to_string();
        runs.push((format!("provision {provider} --json"), provisioned));

        let vars = env.vars("web");
        let mut secrets = Vec::new();
        for (key, value) in &vars {
            if let Some(password) = url::Url::parse(value).ok().and_then(|u| u.password().map(str::to_string)) {
                let decoded = percent_decoded(&password);
                assert!(decoded.len() >= 16, "{key} of {provider} has a short password");
                secrets.push(password);
                secrets.push(decoded);
            }
        }
        assert_eq!(secrets.len(), 4, "{provider}: a URL with a password per addon in {vars:?}");

        runs.extend(run_all(&env, &masking_commands("on-server")));
        let revealed = env.ok(["info", "on-server", "--reveal"]).stdout;
        assert!(revealed.contains(&secrets[0]) || revealed.contains(&secrets[2]), "{revealed}");
        runs.push(("deprovision --wait".into(), env.run(["-v", "deprovision", "on-server", "--wait"])));
        runs.push(("deprovision --json --wait".into(), env.run(["-v", "--json", "deprovision", &second, "--wait"])));
        for (what, run) in &runs[runs.len() - 2..] {
            assert_eq!(run.code, 0, "{provider}: {what}:\n{run}");
        }
        assert_no_secret_in(&runs, &secrets);
    }
}

/// `%XX` escapes decoded, as a URL's password is before it reaches a server.
fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}
