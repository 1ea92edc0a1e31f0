//! The habits of cron, scripts and terminals: warnings instead of silence, exit codes a
//! script can branch on, one JSON shape per thing, URLs that real readers read right,
//! and a live display that fits the terminal.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::providers::Needs;
use common::{is_rfc3339_utc, servers, TestEnv};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// env and run with addons that are not ready

#[test]
fn env_and_run_warn_naming_the_addons_that_are_not_ready() {
    let env = TestEnv::new();
    env.ok(["config", "set", "myapp", "PLAIN=1"]);
    env.ok(["provision", "sqlite", "myapp", "--name", "db"]);
    env.ok(["provision", "secret", "myapp", "--name", "key", "--as", "app"]);
    let warning = "warning: app myapp has addons that are not ready yet, so their vars are missing: \
        db (sqlite waiting_for_provision: DATABASE_URL), key (secret waiting_for_provision: APP_SECRET_KEY); \
        add --wait to wait for them\n";
    let run = env.ok(["env", "myapp"]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("export PLAIN='1'\n", warning));
    let run = env.ok(["run", "myapp", "--", "sh", "-c", "echo \"[$DATABASE_URL]\""]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("[]\n", warning));
    // -q is asked for silence.
    assert_eq!(env.ok(["-q", "env", "myapp"]).stderr, "");
    env.ok(["tick"]);
    let warning = warning.replace("waiting_for_provision", "provisioned");
    assert_eq!(env.ok(["env", "myapp", "--format", "dotenv"]).stderr, warning);
    env.ok(["tick"]);
    assert_eq!(env.ok(["env", "myapp"]).stderr, "");
}

#[test]
fn env_and_run_with_wait_tick_the_apps_addons_to_ready_first() {
    let env = TestEnv::new();
    env.ok(["provision", "sqlite", "myapp", "--name", "db"]);
    let run =
        env.run_within(Duration::from_secs(30), ["run", "myapp", "--wait", "--", "sh", "-c", "echo $DATABASE_URL"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.starts_with("sqlite:///"), "{run}");
    assert_eq!(run.stderr, "");
    assert_eq!(env.info("db")["state"], "ready");

    env.ok(["provision", "secret", "myapp", "--name", "key"]);
    let run = env.run_within(Duration::from_secs(30), ["env", "myapp", "--wait", "--timeout", "20s"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stderr, "");
    let keys: Vec<&str> = run.stdout.lines().map(|line| line.split('=').next().unwrap_or_default()).collect();
    assert_eq!(keys, ["export DATABASE_URL", "export SECRET_KEY"], "{run}");
    assert!(env.fails(2, ["env", "myapp", "--timeout", "5s"]).contains("--wait"));
}

#[test]
fn env_with_wait_fails_when_an_addon_ends_in_error() {
    let env = TestEnv::new();
    let dir = env.root().join("db-dir");
    env.write_config(&format!("[providers.sqlite]\ndir = \"{}\"\n", dir.display()));
    env.ok(["provision", "sqlite", "myapp", "--name", "db"]);
    // The database file goes away before the tick that checks it.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();
    let run = env.run_within(Duration::from_secs(30), ["env", "myapp", "--wait"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: db ended in error"), "{run}");
}

// ---------------------------------------------------------------------------
// list: what the default listing leaves out

#[test]
fn list_ends_with_a_line_naming_hidden_errors_and_pending_cleanups() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "live"]);
    env.provision_ready("secret", "gone", &["--name", "gone"]);
    env.ok(["deprovision", "gone"]);
    let bad_dir = env.root().join("a-file");
    std::fs::write(&bad_dir, "").unwrap();
    env.write_config(&format!("[providers.sqlite]\ndir = \"{}\"\n", bad_dir.display()));
    let run = env.run(["provision", "sqlite", "myapp", "--name", "broken"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(env.info("broken")["state"], "error");

    let run = env.ok(["list"]);
    let names: Vec<&str> = run.stdout.lines().skip(1).map(|line| line.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["live"], "{run}");
    assert_eq!(run.stderr, "1 addon in error, 1 cleanup pending: addons list --all\n");
    assert_eq!(env.ok(["list", "myapp"]).stderr, "1 addon in error: addons list myapp --all\n");
    assert_eq!(env.ok(["list", "gone"]).stderr, "App gone has no addons.\n1 cleanup pending: addons list gone --all\n");
    assert_eq!(env.ok(["list", "--all"]).stderr, "");
    assert_eq!(env.ok(["list", "--json"]).stderr, "");
    assert_eq!(env.ok(["-q", "list"]).stderr, "");
    env.ok(["tick"]);
    assert_eq!(env.ok(["list"]).stderr, "1 addon in error: addons list --all\n");
}

// ---------------------------------------------------------------------------
// JSON: one transition shape, providers' status, errors, formats

#[test]
fn tick_watch_and_log_give_transitions_one_shape_with_name_and_at() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    env.ok(["provision", "secret", "other", "--name", "j"]);
    let mut shapes = Vec::new();
    let tick = env.json(["tick", "--json"]);
    shapes.extend(tick["transitions"].as_array().unwrap().clone());
    let watch = env.run_within(Duration::from_secs(30), ["watch", "--json"]).json();
    shapes.extend(watch["transitions"].as_array().unwrap().clone());
    shapes.extend(env.json(["log", "k", "--json"]).as_array().unwrap().clone());
    assert_eq!(shapes.len(), 2 + 2 + 3, "{shapes:#?}");
    for transition in &shapes {
        let keys: Vec<&String> = transition.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["at", "event", "from", "message", "name", "to"], "{transition}");
        assert!(is_rfc3339_utc(transition["at"].as_str().unwrap()), "{transition}");
    }
    let log = env.json(["log", "k", "--json"]);
    assert!(log.as_array().unwrap().iter().all(|entry| entry["name"] == "k"), "{log:#}");
}

#[test]
fn providers_json_status_is_the_tables_status_and_detail_has_the_text() {
    let env = TestEnv::with_config("[providers.redis]\nurl = \"redis://127.0.0.1:1\"\n");
    let docs = env.json(["providers", "--json"]);
    let rows: Vec<Value> =
        docs.as_array().unwrap().iter().map(|p| json!([p["name"], p["status"], p["answers"]])).collect();
    // Every provider of the registry: those that need nothing answer, redis is configured
    // but does not, and the rest are not configured.
    let want: Vec<Value> = (common::providers::names().into_iter())
        .map(|name| match (name, common::providers::needs(name)) {
            (_, Needs::Nothing) => json!([name, "ok", true]),
            ("redis", _) => json!([name, "unreachable", false]),
            _ => json!([name, "not configured", false]),
        })
        .collect();
    assert_eq!(rows, want);
    let doc = |name: &str| docs.as_array().unwrap().iter().find(|doc| doc["name"] == name).unwrap().clone();
    assert_eq!(doc("secret")["detail"], "built in");
    assert_eq!(doc("postgres")["detail"], "not configured: add [providers.postgres] with a url");
    let table = env.run(["providers"]).stdout;
    let redis = table.lines().find(|line| line.starts_with("redis")).unwrap();
    let detail = doc("redis");
    let detail = detail["detail"].as_str().unwrap();
    assert!(!detail.is_empty() && redis.ends_with(detail), "{redis}\n{detail}");
}

#[test]
fn providers_check_exits_1_when_a_configured_server_does_not_answer() {
    let env = TestEnv::new();
    let run = env.ok(["providers", "--check"]);
    assert!(run.stdout.starts_with("PROVIDER"), "{run}");
    env.write_config("[providers.redis]\nurl = \"redis://127.0.0.1:1\"\n");
    let run = env.run(["providers", "--check"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("redis     unreachable"), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(run.stderr.starts_with("error: a configured server does not answer: redis: "), "{run}");
    // Without --check the listing is the answer: exit 0.
    assert_eq!(env.run(["providers"]).code, 0);
    let run = env.run(["providers", "--check", "--json"]);
    assert_eq!(run.code, 1, "{run}");
    let docs = run.json();
    let redis = docs.as_array().unwrap().iter().find(|doc| doc["name"] == "redis").unwrap();
    assert_eq!(redis["status"], "unreachable");
}

#[test]
fn errors_under_json_are_one_json_object_on_stderr() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    for (args, code, phrase) in [
        (&["info", "nosuch", "--json"][..], 2, "no addon named \"nosuch\""),
        (&["--json", "provision", "secret", "myapp"], 1, "already has SECRET_KEY"),
        (&["--json", "wait", "k", "--timeout", "soon"], 2, "invalid duration"),
        // Usage errors that clap finds, with --json anywhere before `--`.
        (&["--json", "provision"], 2, "required arguments were not provided"),
        (&["list", "--bogus", "--json"], 2, "unexpected argument '--bogus'"),
        (&["--json"], 2, "requires a subcommand"),
        (&["--json", "run", "nosuch", "--", "true"], 2, "no app named"),
    ] {
        let line = env.fails(code, args);
        let error: Value = serde_json::from_str(&line).unwrap_or_else(|err| panic!("{args:?}: {err}: {line}"));
        assert_eq!(error.as_object().unwrap().len(), 2, "{line}");
        assert_eq!(error["code"], code, "{line}");
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(phrase) && !message.starts_with("error:"), "{args:?}: {line}");
    }
    // Without --json (or with it only in the command `run` runs), the plain line.
    assert!(env.fails(2, ["info", "nosuch"]).starts_with("error: no addon named"));
    let run = env.run(["-q", "run", "myapp", "--", "/no/such/program", "--json"]);
    assert!(run.stderr.starts_with("error: can't run /no/such/program"), "{run}");
}

#[test]
fn json_with_a_non_json_env_format_is_a_usage_error() {
    let env = TestEnv::new();
    env.ok(["config", "set", "myapp", "A=1"]);
    for format in ["dotenv", "shell"] {
        let line = env.fails(2, ["env", "myapp", "--json", "--format", format]);
        assert!(line.contains(&format!("--format {format}")), "{line}");
    }
    assert_eq!(env.json(["env", "myapp", "--json", "--format", "json"]), json!({"A": "1"}));
    assert_eq!(env.json(["env", "myapp", "--json"]), json!({"A": "1"}));
}

// ---------------------------------------------------------------------------
// exit codes

#[test]
fn run_exits_127_when_the_command_is_not_found_and_126_when_it_can_not_be_run() {
    let env = TestEnv::new();
    env.ok(["config", "set", "myapp", "A=1"]);
    let line = env.fails(127, ["run", "myapp", "--", "no-such-command-anywhere"]);
    assert!(line.starts_with("error: can't run no-such-command-anywhere: command not found"), "{line}");
    env.fails(127, ["run", "myapp", "--", "/no/such/program"]);
    let script = env.root().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let line = env.fails(126, ["run", "myapp", "--", script.to_str().unwrap()]);
    assert!(line.contains("Permission denied"), "{line}");
    env.fails(126, ["run", "myapp", "--", env.root().to_str().unwrap()]);
    // The command's own 126 and 127 pass through, as any exit status.
    assert_eq!(env.run(["run", "myapp", "--", "sh", "-c", "exit 127"]).code, 127);
}

#[test]
fn deprovision_missing_ok_treats_unknown_and_removed_addons_as_done() {
    let env = TestEnv::new();
    // No state file yet: nothing exists, so nothing is left to remove; where it looked is said.
    let run = env.ok(["deprovision", "nosuch", "--missing-ok"]);
    let warning = format!(
        "warning: no state at {} yet: nothing to deprovision (is this the state you meant?)\n",
        env.state_shown()
    );
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", warning.as_str()));
    assert!(!env.state_exists(), "deprovision --missing-ok created a state");
    assert_eq!(env.json(["deprovision", "nosuch", "--missing-ok", "--json"]), Value::Null);
    env.provision_ready("secret", "myapp", &["--name", "k"]);
    env.provision_ready("secret", "other", &["--name", "j"]);
    env.fails(2, ["deprovision", "nosuch"]);
    let run = env.ok(["deprovision", "nosuch", "k", "--missing-ok", "--wait"]);
    assert!(run.stderr.starts_with("No addon named \"nosuch\"; nothing to remove.\nDeprovisioning k"), "{run}");
    assert_eq!(env.info("k")["state"], "deprovisioned");
    // Already removed: done again, with or without the flag.
    env.ok(["deprovision", "k", "--missing-ok"]);
    let docs = env.json(["deprovision", "k", "j", "nosuch", "--missing-ok", "--json"]);
    let names: Vec<&Value> = docs.as_array().unwrap().iter().map(|doc| &doc["name"]).collect();
    assert_eq!(names, ["k", "j"]);
}

#[test]
fn a_named_config_file_must_exist_and_the_default_one_may_be_missing() {
    let env = TestEnv::new();
    let missing = env.root().join("no-such-config.toml");
    let line = env.fails(2, ["--config", missing.to_str().unwrap(), "list"]);
    assert_eq!(
        line,
        format!(
            "error: config file {} does not exist; create it, or leave out --config and ADDONS_CONFIG to use the default",
            missing.display()
        )
    );
    let run = env.command(["list"]).env("ADDONS_CONFIG", &missing).output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    // The default path ($HOME/.config/addons/config.toml) does not exist either: fine.
    env.ok(["list"]);
}

// ---------------------------------------------------------------------------
// sqlite URLs against the readers apps use

/// The Python with SQLAlchemy and dj-database-url: `$ADDONS_TEST_READERS/.venv/bin/python`.
/// Without it the test is skipped with a notice; `ADDONS_TEST_REQUIRE_READERS=1` makes
/// that a failure.
fn python_readers() -> Option<PathBuf> {
    let required = std::env::var("ADDONS_TEST_REQUIRE_READERS").is_ok_and(|v| v == "1");
    let python = std::env::var_os("ADDONS_TEST_READERS").map(|dir| Path::new(&dir).join(".venv/bin/python"));
    match python {
        Some(python) if python.exists() => Some(python),
        _ => {
            assert!(!required, "ADDONS_TEST_REQUIRE_READERS=1 but $ADDONS_TEST_READERS/.venv/bin/python is missing");
            eprintln!(
                "NOTICE: skipping the sqlite URL readers: set ADDONS_TEST_READERS to a dir with .venv/bin/python"
            );
            None
        }
    }
}

#[test]
fn sqlite_database_url_is_read_as_the_absolute_path_by_sqlalchemy_and_dj_database_url() {
    let Some(python) = python_readers() else { return };
    let env = TestEnv::new();
    let addon = env.provision_ready("sqlite", "myapp", &["--name", "db"]);
    let url = env.vars("myapp")["DATABASE_URL"].clone();
    let file = env.sqlite_dir().join(format!("{}.db", addon["id"].as_str().unwrap()));
    // A table only the handed-out database has: the readers must open that file.
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch("CREATE TABLE marker (word TEXT); INSERT INTO marker VALUES ('handed-out');").unwrap();
    drop(conn);
    let script = "\
import os, sys, dj_database_url, sqlalchemy
url = os.environ['DATABASE_URL']
print(dj_database_url.parse(url)['NAME'])
engine = sqlalchemy.create_engine(url)
print(engine.url.database)
with engine.connect() as conn:
    print(conn.execute(sqlalchemy.text('SELECT word FROM marker')).scalar())
";
    // From another directory, so a path read as relative would miss the file.
    let run = env.ok(["run", "myapp", "--", python.to_str().unwrap(), "-c", script]);
    let path = file.display().to_string();
    assert_eq!(run.stdout, format!("{path}\n{path}\nhanded-out\n"), "{url}\n{run}");
}

// ---------------------------------------------------------------------------
// the live display on a terminal

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a detached 80x24 session.
    fn start(command: &str) -> Tmux {
        Tmux::start_sized(command, 80, 24)
    }

    /// Starts `command` in a detached session of `width` x `height`.
    fn start_sized(command: &str, width: u16, height: u16) -> Tmux {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tmux = Tmux { socket: format!("addons-test-{}-{n}", std::process::id()) };
        let (width, height) = (width.to_string(), height.to_string());
        let status = tmux
            .command(&["new-session", "-d", "-x", &width, "-y", &height, command])
            .status()
            .expect("tmux runs (apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        command
    }

    fn screen(&self) -> String {
        let out = self.command(&["capture-pane", "-p", "-t", "0"]).output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen once `done` holds for it; fails the test after `limit`.
    fn screen_when(&self, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(start.elapsed() < limit, "the screen never got there:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]).status();
    }
}

impl Tmux {
    /// Everything the pane holds, its scrollback and then its screen, without the
    /// blank lines and trailing spaces.
    fn history(&self) -> Vec<String> {
        let out = self.command(&["capture-pane", "-p", "-S", "-", "-t", "0"]).output().expect("tmux capture-pane");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().map(str::trim_end).filter(|line| !line.is_empty()).map(str::to_string).collect()
    }
}

/// `addons ARGS` in a clean environment, as a shell command line for tmux; then its exit
/// status, printed as a shell prompt would be (no newline: a frame leaves room for one).
fn shell_line(env: &TestEnv, args: &str) -> String {
    shell_line_with(env, "", args)
}

/// The same with `vars` (`NAME=value ...`) added to the environment.
fn shell_line_with(env: &TestEnv, vars: &str, args: &str) -> String {
    format!(
        "env -i PATH=\"$PATH\" TERM=xterm HOME='{}' ADDONS_STATE='{}' {vars} '{}' {args}; printf 'exit=%s' \"$?\"; sleep 600",
        env.root().display(),
        env.state_location().to_string_lossy(),
        common::BIN
    )
}

/// The live display's clock (`[00:00:03]`) as `[<clock>]`.
fn without_clock(line: &str) -> String {
    match line.find(" [00:") {
        Some(at) if line.ends_with(']') => format!("{} [<clock>]", &line[..at]),
        _ => line.to_string(),
    }
}

#[test]
fn watch_on_an_80x24_terminal_keeps_its_summary_and_ends_on_a_true_frame() {
    let env = TestEnv::new();
    for i in 0..30 {
        env.ok(["provision", "secret", &format!("app{i:02}"), "--name", &format!("addon-{i:02}")]);
    }
    env.ok(["deprovision", "addon-29"]);
    let tmux = Tmux::start(&shell_line(&env, "watch --forever"));
    let settled = "30/30 settled, 0 with work left";
    tmux.screen_when(Duration::from_secs(30), |screen| screen.contains(settled));
    // The terminal would echo ^C where the display's cursor is; the display turns that off.
    tmux.command(&["send-keys", "-t", "0", "C-c"]).status().unwrap();
    let screen = tmux.screen_when(Duration::from_secs(30), |screen| screen.contains("exit="));
    let lines: Vec<&str> = screen.lines().filter(|line| !line.is_empty()).collect();
    // header, 19 addon lines, "... and N more", the summary, the closing note, exit=0
    assert_eq!(lines.len(), 24, "{screen}");
    assert!(lines[0].starts_with("NAME") && lines[0].contains("APP") && lines[0].contains("PROVIDER"), "{screen}");
    // Every addon finished: all in the natural order of their names.
    for (i, line) in lines[1..20].iter().enumerate() {
        let expected = format!("addon-{i:02}  app{i:02}  secret    ready");
        assert!(line.starts_with(&expected), "line {} is not {expected}...:\n{screen}", i + 1);
    }
    assert_eq!(lines[20], "… and 11 more (0 moving)", "{screen}");
    assert!(lines[21].starts_with(settled), "the final summary is not the true one:\n{screen}");
    assert_eq!(lines[22], "Stopped; 0 addons with work left.", "{screen}");
    assert_eq!(lines[23], "exit=0", "{screen}");
    assert!(lines.iter().all(|line| line.chars().count() <= 80));
    assert_eq!(tmux.history(), lines, "more than the final frame in the scrollback");
}

/// The count of a copy's line on `screen` ("12.50 MiB/120.00 MiB"), when it shows one
/// with a rate and the time left after it.
fn copy_count(screen: &str, addon: &str) -> Option<String> {
    let line = screen.lines().find(|line| line.starts_with(&format!("{addon} ")))?;
    let (_, progress) = line.split_once("copying the data of main-db ")?;
    let words: Vec<&str> = progress.split_whitespace().collect();
    // "12.50 MiB/120.00 MiB 30.10 MiB/s 4s left"
    match words.as_slice() {
        [done, counts, _, rate, per_second, eta, "left"]
            if done.parse::<f64>().is_ok()
                && counts.starts_with("MiB/")
                && rate.parse::<f64>().is_ok()
                && per_second.ends_with("B/s")
                && eta.trim_end_matches(['s', 'm', 'h']).parse::<u32>().is_ok() =>
        {
            Some(format!("{done} {counts}"))
        }
        _ => None,
    }
}

#[test]
fn a_postgres_copy_on_a_terminal_shows_its_bytes_their_rate_and_the_time_left() {
    let Some(admin) = servers::server("postgres", "the progress of a postgres copy") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    env.provision_ready("postgres", "main", &["--name", "main-db"]);
    let url = env.vars("main").get("DATABASE_URL").cloned().expect("DATABASE_URL");
    // Over 100 MB, written by the server itself; the session stays open, so the copy is
    // a dump and restore, whose database grows on disk as it is written.
    let mut source = servers::connect_postgres(&url).unwrap();
    let fill = "CREATE TABLE t (body text); INSERT INTO t SELECT repeat('x', 1000) FROM generate_series(1, 110000)";
    source.batch_execute(fill).unwrap();
    let config = format!("ADDONS_CONFIG='{}'", env.config.display());
    let line = shell_line_with(&env, &config, "provision postgres branch --name branch-db --from main-db --wait");
    let tmux = Tmux::start_sized(&line, 160, 24);
    let limit = Duration::from_secs(60);
    let first = tmux.screen_when(limit, |screen| copy_count(screen, "branch-db").is_some() || screen.contains("exit="));
    let first = copy_count(&first, "branch-db").unwrap_or_else(|| panic!("no progress shown:\n{first}"));
    let moved = |screen: &str| copy_count(screen, "branch-db").is_some_and(|count| count != first);
    let second = tmux.screen_when(limit, |screen| moved(screen) || screen.contains("exit="));
    assert!(moved(&second), "the count stayed at {first}:\n{second}");
    let screen = tmux.screen_when(limit, |screen| screen.contains("exit="));
    assert!(screen.contains("branch-db is ready") && screen.contains("exit=0"), "{screen}");
    drop(source);
}

#[test]
fn wait_on_a_terminal_cuts_the_message_first_then_the_app() {
    let env = TestEnv::new();
    env.ok(["provision", "sqlite", "an-app-with-a-name-long-enough-to-be-cut", "--name", "db"]);
    let tmux = Tmux::start(&shell_line(&env, "wait db"));
    tmux.screen_when(Duration::from_secs(30), |screen| screen.contains("exit="));
    let lines: Vec<String> = tmux.history().iter().map(|line| without_clock(line)).collect();
    // MESSAGE keeps its 20 columns; APP gives way for them; NAME, PROVIDER and STATE stay whole.
    assert_eq!(
        lines,
        [
            "NAME  APP                                  PROVIDER  STATE  MESSAGE",
            "db    an-app-with-a-name-long-enough-to-…  sqlite    ready  config vars set on …",
            "1/1 settled, 0 with work left [<clock>]",
            "db is ready: DATABASE_URL set on app an-app-with-a-name-long-enough-to-be-cut",
            "exit=0",
        ],
        "{lines:#?}"
    );
}

/// `clear; addons watch` while 20 addons provision, each step's commit slowed so the
/// display is seen moving: every frame fits the terminal, its rows in the natural order
/// of their names (moving before finished), and at the end the pane's whole history is
/// the final frame and the lines after it: no frame left behind in the scrollback.
#[cfg(feature = "failpoints")]
#[test]
fn watch_after_clear_redraws_in_place_at_80x24_and_60x10() {
    for (width, height) in [(80u16, 24usize), (60, 10)] {
        let env = TestEnv::new();
        for i in 1..=20 {
            env.ok(["provision", "secret", &format!("app-{i}"), "--name", &format!("fleet-{i}")]);
        }
        let slow = "ADDONS_FAILPOINT=before-step-commit=sleep:1000";
        let tmux = Tmux::start_sized(&format!("clear; {}", shell_line_with(&env, slow, "watch")), width, height as u16);
        let start = Instant::now();
        let mut seen_moving = false;
        loop {
            let screen = tmux.screen();
            let lines: Vec<&str> = screen.lines().filter(|line| !line.is_empty()).collect();
            assert!(lines.len() <= height, "a frame taller than the terminal:\n{screen}");
            // (finished, number) of each addon line: moving ones first, each group in order.
            let rows: Vec<(bool, u32)> = lines
                .iter()
                .filter_map(|line| {
                    let number = line.strip_prefix("fleet-")?.split(' ').next()?.parse().ok()?;
                    Some((line.contains(" ready "), number))
                })
                .collect();
            if !rows.is_sorted() {
                // A capture may catch the terminal halfway through painting a frame (the
                // top lines new, the rest still the last frame's): an order that is wrong
                // for good is the display's, one gone a moment later was a torn capture.
                std::thread::sleep(Duration::from_millis(300));
                assert_ne!(tmux.screen(), screen, "rows out of order:\n{screen}");
                continue;
            }
            if screen.contains("exit=") {
                break;
            }
            seen_moving |= lines.iter().any(|line| line.starts_with("fleet-") && !line.contains(" ready "));
            assert!(start.elapsed() < Duration::from_secs(60), "watch never ended:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(seen_moving, "{width}x{height}: no frame showed an addon moving");
        let row = |i: u32, width: usize| {
            let line = format!(
                "{:<8}  {:<6}  secret    ready  config vars set on app app-{i}: SECRET_KEY",
                format!("fleet-{i}"),
                format!("app-{i}")
            );
            console::truncate_str(&line, width, "…").into_owned()
        };
        let expected: Vec<String> = match width {
            80 => ["NAME      APP     PROVIDER  STATE  MESSAGE".to_string()]
                .into_iter()
                .chain((1..=20).map(|i| row(i, 80)))
                .chain(["20/20 settled, 0 with work left [<clock>]".to_string()])
                .collect(),
            _ => ["NAME     APP    PROVIDER  STATE  MESSAGE".to_string()]
                .into_iter()
                .chain((1..=5).map(|i| format!("fleet-{i}  app-{i}  secret    ready  config vars set on app app…")))
                .chain(["… and 15 more (0 moving)".to_string(), "20/20 settled, 0 with work left [<clock>]".into()])
                .collect(),
        };
        let expected: Vec<String> = expected.into_iter().chain(["No work left.".into(), "exit=0".into()]).collect();
        let history: Vec<String> = tmux.history().iter().map(|line| without_clock(line)).collect();
        assert_eq!(history, expected, "{width}x{height}");
    }
}

// ---------------------------------------------------------------------------
// without a terminal

/// `wait` on an addon whose server is down says why on the first failed attempt, so a
/// log shows why it waits, rather than nothing until it times out.
#[test]
fn wait_without_a_terminal_says_why_each_attempt_failed() {
    let Some(admin) = servers::server("redis", "a wait on a server that is down") else { return };
    let env = TestEnv::with_config(&servers::config("redis", &admin));
    env.ok(["provision", "redis", "myapp", "--name", "cache"]);
    // The server goes away: nothing listens on port 1.
    env.write_config(&servers::config("redis", "redis://127.0.0.1:1"));
    let run = env.run_within(Duration::from_secs(60), ["wait", "cache", "--timeout", "2s"]);
    assert_eq!(run.code, 3, "{run}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let first = lines.first().copied().unwrap_or_default();
    assert!(first.starts_with("cache: waiting_for_provision retry: attempt 1 failed: redis://127.0.0.1:1: "), "{run}");
    assert!(first.contains("connection refused") && first.ends_with("; next try in 1s"), "{run}");
    assert!(lines.last().unwrap().starts_with("error: timed out waiting for cache"), "{run}");
    assert_eq!(run.stdout, "", "{run}");
}

// ---------------------------------------------------------------------------
// addons man on a terminal

/// `addons man provision` on a terminal, with `path` first on PATH and `vars` set
/// (`KEY=value` words); then its exit status as [`shell_line`] prints it.
fn man_line(env: &TestEnv, path: &str, vars: &str) -> String {
    format!(
        "env -i PATH='{path}' TERM=xterm HOME='{}' {vars} '{}' man provision; printf 'exit=%s' \"$?\"; sleep 600",
        env.root().display(),
        common::BIN
    )
}

/// Writes an executable shell script `name` into `dir` (made if missing).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// PATH with `dir` first.
fn path_with(dir: &Path) -> String {
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn man_on_a_terminal_hands_the_page_to_man_and_prints_roff_without_it() {
    let env = TestEnv::new();
    let root = env.root().to_path_buf();
    let bin = root.join("fake-bin");
    // A `man` that keeps what it was given and says so.
    let body = format!(
        "printf '%s\\n' \"$*\" > '{args}'\ncat > '{page}'\necho 'fake man showed the page'\n",
        args = root.join("man-args").display(),
        page = root.join("man-page").display()
    );
    script(&bin, "man", &body);
    let tmux = Tmux::start(&man_line(&env, &path_with(&bin), ""));
    let screen = tmux.screen_when(Duration::from_secs(30), |screen| screen.contains("exit="));
    assert!(screen.contains("fake man showed the page") && screen.contains("exit=0"), "{screen}");
    assert!(!screen.contains(".TH"), "roff on the terminal as well:\n{screen}");
    assert_eq!(std::fs::read_to_string(root.join("man-args")).unwrap(), "-l -\n");
    let page = std::fs::read_to_string(root.join("man-page")).unwrap();
    assert!(page.contains("\n.TH addons-provision 1 "), "not the page of addons provision:\n{page}");
    let piped = env.ok(["man", "provision"]);
    assert_eq!(page, piped.stdout, "man was not handed the page that a pipe gets");
    drop(tmux);

    // A `man` that fails: its own words, then one line, exit 1.
    script(&bin, "man", "cat > /dev/null\necho 'man: no groff here' >&2\nexit 3\n");
    let tmux = Tmux::start(&man_line(&env, &path_with(&bin), ""));
    let screen = tmux.screen_when(Duration::from_secs(30), |screen| screen.contains("exit="));
    assert!(screen.contains("man: no groff here") && screen.contains("exit=1"), "{screen}");
    assert!(screen.contains("error: man could not show the page (exit 3)"), "{screen}");
    drop(tmux);

    // No `man` at all: the roff is printed, as a pipe gets it (its end is on the screen).
    let empty = root.join("no-man-here");
    std::fs::create_dir_all(&empty).unwrap();
    let tmux = Tmux::start_sized(&man_line(&env, &empty.display().to_string(), ""), 200, 60);
    let screen = tmux.screen_when(Duration::from_secs(30), |screen| screen.contains("exit="));
    let end: Vec<&str> = piped.stdout.lines().rev().take(5).collect();
    let shown: Vec<&str> = screen.lines().filter(|line| !line.is_empty()).rev().skip(1).take(5).collect();
    assert_eq!(shown, end, "not the roff's last lines:\n{screen}");
    assert!(screen.ends_with("exit=0\n") || screen.contains("\nexit=0"), "{screen}");
}

#[test]
fn man_on_a_terminal_pages_through_manpager_else_pager() {
    let Some(man) = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("man")).find(|man| man.is_file()))
    else {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "NOTICE: skipping the man pager test: no man on PATH");
        return;
    };
    let env = TestEnv::new();
    let root = env.root().to_path_buf();
    for (var, name) in [("MANPAGER", "manpager"), ("PAGER", "pager")] {
        // A pager that keeps what it was given and says which one it is.
        let paged = root.join(format!("{name}-paged"));
        let body = format!("cat > '{}'\necho '{name} showed the page'\n", paged.display());
        let pager = script(&root.join("pagers"), name, &body);
        let tmux =
            Tmux::start(&man_line(&env, &std::env::var("PATH").unwrap(), &format!("{var}='{}'", pager.display())));
        let screen = tmux.screen_when(Duration::from_secs(30), |screen| screen.contains("exit="));
        assert!(screen.contains(&format!("{name} showed the page")) && screen.contains("exit=0"), "{man:?}:\n{screen}");
        // Formatted by man: the sections set as text, no roff requests left.
        let text = std::fs::read_to_string(&paged).unwrap();
        assert!(text.contains("NAME") && text.contains("addons-provision - Create an addon"), "{var}:\n{text}");
        assert!(!text.contains(".TH"), "{var}: the pager got roff:\n{text}");
    }
}

#[test]
fn list_on_an_80_column_terminal_cuts_the_message_to_fit() {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key"]);
    env.provision_ready("secret", "api", &["--name", "other"]);
    let long = "the resource answered with a message long enough that no line of eighty columns holds it whole";
    env.state_sql(&format!("UPDATE addons SET message = '{long}' WHERE name = 'key'"));
    let tmux = Tmux::start(&shell_line(&env, "list"));
    let screen = tmux.screen_when(Duration::from_secs(30), |screen| screen.contains("exit="));
    let lines: Vec<&str> = screen.lines().filter(|line| !line.is_empty()).collect();
    // The header, one line per addon (none wrapped), exit=0.
    assert_eq!(lines.len(), 4, "{screen}");
    assert!(lines[0].starts_with("NAME ") && lines[0].ends_with("MESSAGE"), "{screen}");
    assert!(lines[1].starts_with("other ") && lines[1].ends_with("set on app api: SECRET_KEY"), "{screen}");
    assert!(lines[2].starts_with("key ") && lines[2].ends_with('…'), "not cut:\n{screen}");
    assert_eq!(lines[2].chars().count(), 80, "not cut to the width:\n{screen}");
    assert!(lines[2].contains("the resource answered with"), "{screen}");
    assert_eq!(lines[3], "exit=0");
}

// ---------------------------------------------------------------------------
// cron

#[test]
fn a_tick_that_moves_nothing_prints_nothing_for_cron() {
    let env = TestEnv::new();
    // No state where cron looks: that is worth a mail, and nothing is made.
    let run = env.ok(["tick"]);
    let warning =
        format!("warning: no state at {} yet: nothing to tick (is this the state you meant?)\n", env.state_shown());
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", warning.as_str()));
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    assert_eq!(env.ok(["tick"]).stderr, "1 transition; 1 addon with work left\n");
    env.ok(["tick"]);
    let run = env.ok(["tick"]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
}

// ---------------------------------------------------------------------------
// the README's examples

/// One `$ addons ...` line of a README console block and the screen it leaves.
struct Step {
    command: String,
    expected: Vec<String>,
}

/// Every ```console block of the README, as its steps.
fn readme_console_blocks() -> Vec<Vec<Step>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut steps: Option<Vec<Step>> = None;
    for line in readme.lines() {
        match (&mut steps, line) {
            (None, "```console") => steps = Some(Vec::new()),
            (Some(_), "```") => blocks.push(steps.take().unwrap()),
            (Some(steps), line) => match line.strip_prefix("$ ") {
                Some(command) => steps.push(Step { command: command.to_string(), expected: Vec::new() }),
                None => steps.last_mut().expect("a console block starts with a command").expected.push(line.into()),
            },
            (None, _) => {}
        }
    }
    blocks
}

/// Replaces what differs from run to run with placeholders numbered in order of first
/// appearance: generated addon names (`<name1>`), 16-hex-digit addon ids (`<id1>`),
/// times and elapsed clocks; and squeezes runs of spaces (names differ in length, so
/// table columns do).
fn normalize_step(text: &str, names: &mut Vec<String>, ids: &mut Vec<String>) -> String {
    let is_name = |word: &str| {
        let parts: Vec<&str> = word.split('-').collect();
        parts.len() == 3
            && parts[..2].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[2].len() == 6
            && parts[2].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let is_id = |word: &str| word.len() == 16 && word.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let mut out = String::new();
    let mut word = String::new();
    let mut flush = |word: &mut String, out: &mut String| {
        let placeholder = |seen: &mut Vec<String>, kind: &str| {
            let index = seen.iter().position(|w| w == word).unwrap_or_else(|| {
                seen.push(word.clone());
                seen.len() - 1
            });
            format!("<{kind}{}>", index + 1)
        };
        *out += &if is_name(word) {
            placeholder(names, "name")
        } else if is_id(word) {
            placeholder(ids, "id")
        } else {
            word.clone()
        };
        word.clear();
    };
    for c in common::normalize_times(text).chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    let mut squeezed = out.split(' ').filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ");
    // The live display's clock: [00:00:00].
    while let Some(start) = squeezed.find("[00:") {
        squeezed.replace_range(start..start + 10, "[<clock>]");
    }
    squeezed
}

/// Whether an actual line matches an expected one, where `...` in the expected line
/// stands for any text (a secret value, which the README does not print whole).
fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split("...").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || !actual.ends_with(last) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Runs one command as a user would, on a 200x60 terminal (tmux), with `HOME` (and so
/// the default state file) in `env`'s temp dir; returns the screen it leaves.
fn run_on_a_terminal(env: &TestEnv, command: &str, step: usize) -> String {
    let bin_dir = Path::new(common::BIN).parent().unwrap();
    let script = env.root().join(format!("step-{step}.sh"));
    std::fs::write(&script, format!("{command}\n")).unwrap();
    let line = format!(
        "cd '{root}' && env -i PATH='{bin}':\"$PATH\" TERM=xterm HOME='{root}' sh '{script}'; printf '<<done>>'; sleep 600",
        root = env.root().display(),
        bin = bin_dir.display(),
        script = script.display()
    );
    let tmux = Tmux::start_sized(&line, 200, 60);
    let screen = tmux.screen_when(Duration::from_secs(60), |screen| screen.contains("<<done>>"));
    let screen = screen.replace("<<done>>", "");
    screen.trim_end().lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_console_example_in_the_readme_runs_and_prints_what_it_shows() {
    let blocks = readme_console_blocks();
    assert!(!blocks.is_empty(), "the README has no console block");
    for (b, block) in blocks.iter().enumerate() {
        let env = TestEnv::new();
        let home = env.root().display().to_string();
        let (mut readme_names, mut readme_ids): (Vec<String>, Vec<String>) = Default::default();
        let (mut names, mut ids): (Vec<String>, Vec<String>) = Default::default();
        let mut problems = Vec::new();
        for (s, step) in block.iter().enumerate() {
            assert!(step.command.starts_with("addons "), "block {b}: {:?} is not an addons command", step.command);
            // The README's names stand for the ones this run generated, in the same order.
            let mut command = step.command.clone();
            for (readme, actual) in readme_names.iter().zip(&names) {
                command = command.replace(readme.as_str(), actual);
            }
            let expected = normalize_step(
                &step.expected.join("\n").replace("/home/me", "$HOME"),
                &mut readme_names,
                &mut readme_ids,
            );
            let screen = run_on_a_terminal(&env, &command, s);
            let actual = normalize_step(&screen.replace(&home, "$HOME"), &mut names, &mut ids);
            let (expected, actual): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
            let same = expected.len() == actual.len() && expected.iter().zip(&actual).all(|(e, a)| line_matches(e, a));
            if !same {
                problems.push(format!(
                    "$ {}\n--- README shows ---\n{}\n--- the binary printed ---\n{}",
                    step.command,
                    expected.join("\n"),
                    actual.join("\n")
                ));
            }
        }
        assert!(problems.is_empty(), "console block {b} of the README:\n\n{}", problems.join("\n\n"));
    }
}

#[test]
fn a_postgres_backup_on_a_terminal_shows_its_bytes_in_the_live_display() {
    let Some(admin) = servers::server("postgres", "the progress of a postgres backup") else { return };
    let env = TestEnv::new();
    let backups = env.root().join("backups");
    env.write_config(&format!("{}[backups]\ndir = \"{}\"\n", servers::config("postgres", &admin), backups.display()));
    env.provision_ready("postgres", "main", &["--name", "main-db"]);
    let url = env.vars("main").get("DATABASE_URL").cloned().expect("DATABASE_URL");
    let mut source = servers::connect_postgres(&url).unwrap();
    let fill = "CREATE TABLE t (body text); \
                INSERT INTO t SELECT md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) \
                FROM generate_series(1, 1500000) g";
    source.batch_execute(fill).unwrap();
    // The first backup's size is what the next one's count runs up to.
    env.ok(["backup", "main-db", "--wait"]);
    let config = format!("ADDONS_CONFIG='{}'", env.config.display());
    let tmux = Tmux::start_sized(&shell_line_with(&env, &config, "backup main-db --wait"), 160, 24);
    let counting = |screen: &str| {
        screen
            .lines()
            .any(|line| line.starts_with("main-db ") && line.contains("backing up as") && line.contains("MiB/"))
    };
    let limit = Duration::from_secs(60);
    let screen = tmux.screen_when(limit, |screen| counting(screen) || screen.contains("exit="));
    assert!(counting(&screen), "no count of the backup's bytes shown:\n{screen}");
    let screen = tmux.screen_when(limit, |screen| screen.contains("exit="));
    assert!(screen.contains("exit=0") && screen.contains("backup done"), "{screen}");
    drop(source);
    env.ok(["deprovision", "main-db", "--wait"]);
}
