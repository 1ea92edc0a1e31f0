//! `[apps.NAME] on_change` through the binary: the hook runs with the app's vars after
//! each change (an addon ready, config set/unset, a rotation, a deprovision); a failing
//! hook is recorded, shown and retried with backoff; a hook past its timeout is killed
//! with its process group; one app's failing hook stops nothing of another app. With
//! the `failpoints` feature, a SIGKILL just before and just after a hook run is
//! followed by ticks that run it for the latest vars (exactly once when killed before
//! it ran, once more when killed after: at least once), for every provider.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TestEnv;
use serde_json::Value;

/// A config whose app `web` writes the vars it sees (sorted, `KEY=VALUE` lines) to
/// `seen` and one line per run to `runs`, then prints a line that holds its secret.
fn hook_config(env: &TestEnv, extra: &str) -> (PathBuf, PathBuf) {
    let (seen, runs) = (env.root().join("seen"), env.root().join("runs"));
    let hook = format!(
        "env | grep -E '^(SECRET_KEY|GREETING)=' | sort > {}; echo run >> {}; echo \"secret is $SECRET_KEY\"",
        seen.display(),
        runs.display()
    );
    env.write_config(&format!("{extra}[apps.web]\non_change = {hook:?}\n"));
    (seen, runs)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn run_count(runs: &Path) -> usize {
    read(runs).lines().count()
}

/// `hooks web --json`.
fn hooks(env: &TestEnv, app: &str) -> Value {
    env.json(["hooks", app, "--json"])
}

#[test]
fn the_hook_runs_with_the_vars_after_each_change() {
    let env = TestEnv::new();
    let (seen, runs) = hook_config(&env, "");
    // Ready: the hook sees the new var.
    env.provision_ready("secret", "web", &["--name", "key"]);
    let secret = env.vars("web")["SECRET_KEY"].clone();
    assert_eq!(read(&seen), format!("SECRET_KEY={secret}\n"));
    assert_eq!(run_count(&runs), 1);
    // config set and unset: once each, with the vars after the change.
    env.ok(["config", "set", "web", "GREETING=hello"]);
    assert_eq!(read(&seen), format!("GREETING=hello\nSECRET_KEY={secret}\n"));
    env.ok(["config", "unset", "web", "GREETING"]);
    assert_eq!(read(&seen), format!("SECRET_KEY={secret}\n"));
    assert_eq!(run_count(&runs), 3);
    // A tick with nothing changed runs nothing.
    env.ok(["tick"]);
    assert_eq!(run_count(&runs), 3);
    // A rotation switches the vars: the hook sees the new secret.
    env.ok(["rotate", "key", "--wait"]);
    let rotated = env.vars("web")["SECRET_KEY"].clone();
    assert_ne!(rotated, secret);
    assert_eq!(read(&seen), format!("SECRET_KEY={rotated}\n"));
    assert_eq!(run_count(&runs), 4);
    // What was recorded: runs newest first, with their output masked.
    let shown = hooks(&env, "web");
    assert_eq!(shown["due"], false, "{shown:#}");
    assert_eq!(shown["hook_version"], shown["vars_version"], "{shown:#}");
    let recorded = shown["runs"].as_array().unwrap();
    assert_eq!(recorded.len(), 4, "{shown:#}");
    assert!(recorded.iter().all(|run| run["result"] == "ok" && run["exit_status"] == 0), "{shown:#}");
    assert_eq!(recorded[0]["output"], serde_json::json!(["secret is ****"]), "{shown:#}");
    let text = env.ok(["hooks", "web"]).stdout;
    assert!(!text.contains(&rotated) && text.contains("  secret is ****"), "{text}");
    // info says it in one line; log has a hook event per run while the addon lived.
    let info = env.ok(["info", "key"]).stdout;
    let line = info.lines().find(|line| line.starts_with("hook ")).unwrap_or_default();
    assert!(line.contains("last run ok for vars version") && line.ends_with("up to date"), "{info}");
    let log = env.json(["log", "key", "--json"]);
    let hook_events = log.as_array().unwrap().iter().filter(|e| e["event"] == "hook").count();
    assert_eq!(hook_events, 4, "{log:#}");
    // Deprovisioned: the var is gone, and the hook sees that.
    env.ok(["deprovision", "key"]);
    assert_eq!(read(&seen), "");
    assert_eq!(run_count(&runs), 5);
}

#[test]
fn a_failing_hook_is_recorded_shown_and_retried_with_backoff() {
    let env = TestEnv::new();
    let fixed = env.root().join("fixed");
    let hook = format!("echo \"trying $GREETING\"; test -f {}", fixed.display());
    env.write_config(&format!("[apps.web]\non_change = {hook:?}\n"));
    // The command's change stands; that the hook failed is its exit 1 and one line.
    let line = env.fails(1, ["config", "set", "web", "GREETING=hi"]);
    assert!(
        line.starts_with("error: set GREETING on app web, but the on_change hook of app web failed (exit 1)"),
        "{line}"
    );
    assert_eq!(env.vars("web")["GREETING"], "hi");
    // Not retried before its backoff (when this tick comes before it: a loaded machine
    // may start it later); then retried, quietly.
    let next_try = hooks(&env, "web")["next_try_at"].as_str().map(|at| humantime::parse_rfc3339(at).unwrap());
    let run = env.ok(["tick"]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""), "{run}");
    if next_try.is_some_and(|at| std::time::SystemTime::now() < at) {
        assert_eq!(hooks(&env, "web")["runs"].as_array().unwrap().len(), 1, "retried before its backoff");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while hooks(&env, "web")["runs"].as_array().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the failed hook was not retried");
        let run = env.ok(["tick"]);
        assert_eq!(run.stderr, "", "a retry that fails again is quiet: {run}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let shown = hooks(&env, "web");
    assert_eq!(shown["due"], true);
    assert_eq!(shown["attempts"], 2);
    assert!(shown["next_try_at"].is_string(), "{shown:#}");
    let first = &shown["runs"][0];
    assert_eq!((&first["result"], &first["exit_status"]), (&"failed".into(), &1.into()), "{shown:#}");
    assert_eq!(first["output"], serde_json::json!(["trying hi"]));
    let text = env.ok(["hooks", "web"]).stdout;
    assert!(text.contains("failed (exit 1)") && text.contains("after 2 attempts failed; next try in"), "{text}");
    // Fixed: the next retry succeeds and the hook is up to date.
    std::fs::write(&fixed, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while hooks(&env, "web")["due"] == true {
        assert!(Instant::now() < deadline, "the fixed hook never ran");
        env.ok(["tick"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(hooks(&env, "web")["runs"][0]["result"], "ok");
    assert_eq!(hooks(&env, "web")["attempts"], 0);
}

#[test]
fn a_tick_says_a_hook_failure_once_and_exits_1() {
    let env = TestEnv::with_config("[apps.web]\non_change = \"echo no; exit 7\"\n");
    env.ok(["provision", "secret", "web", "--name", "key"]);
    // The first tick provisions, the second sets the var on the app.
    env.ok(["tick"]);
    let run = env.run(["tick"]);
    assert_eq!(run.code, 1, "{run}");
    let errors: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(
        errors,
        ["error: app web: on_change hook ran for vars version 1: exit 7; retried with backoff ('addons hooks web' shows its output)"],
        "{run}"
    );
    assert_eq!(env.info("key")["state"], "ready", "the hook's failure does not hold the addon back");
    let json = env.run(["tick", "--json"]);
    assert_eq!(json.json()["hooks"], serde_json::json!([]), "{json}");
}

/// An app whose `on_change` hook fails still runs with its old login: a rotation (even
/// `--grace 0`) and a detach revoke it only once the hook has succeeded for the vars
/// that replaced it, and `rotate --wait` exits 1 saying why.
#[test]
fn a_failing_hook_holds_the_revocation_of_the_login_its_app_still_runs_with() {
    let Some(admin) = common::servers::server("postgres", "hooks holding revocations") else { return };
    let env = TestEnv::new();
    let fixed = env.root().join("fixed");
    let hook = format!("test -f {}", fixed.display());
    env.write_config(&format!("{}[apps.worker]\non_change = {hook:?}\n", common::servers::config("postgres", &admin)));
    env.provision_ready("postgres", "web", &["--name", "db"]);
    std::fs::write(&fixed, "").unwrap();
    env.ok(["attach", "db", "worker", "--wait"]);
    let login = |env: &TestEnv| env.vars("worker")["DATABASE_URL"].clone();
    let works = |url: &str| common::servers::connect_postgres(url).is_ok();
    let (old, fix) = (login(&env), || std::fs::write(&fixed, "").unwrap());
    assert!(works(&old));

    std::fs::remove_file(&fixed).unwrap();
    let run = env.run(["rotate", "db", "--app", "worker", "--grace", "0", "--wait"]);
    assert_eq!(run.code, 1, "{run}");
    let said = run.stderr.lines().find(|line| line.starts_with("error:")).unwrap_or_default();
    assert!(said.contains("the on_change hook of app worker failed"), "{run}");
    assert!(said.contains("the old login stays until it succeeds"), "{run}");
    let new = login(&env);
    assert!(new != old && works(&new), "worker's vars do not hold a working new login");
    env.run(["tick"]);
    assert!(works(&old), "worker's old login was revoked while its hook failed");
    assert_eq!(hooks(&env, "worker")["attempts"].as_u64().map(|n| n > 0), Some(true), "{}", hooks(&env, "worker"));
    let listed = env.ok(["list", "web"]).stdout;
    assert!(listed.contains("hook of app worker failed"), "list does not show the failing hook:\n{listed}");

    fix();
    settle_until(&env, || !works(&old), "the old login revoked once worker's hook succeeded");
    assert!(works(&new));

    // A detach waits for the hook the same way.
    std::fs::remove_file(&fixed).unwrap();
    let run = env.run(["detach", "db", "worker"]);
    assert!(run.stderr.contains("the on_change hook of app worker failed"), "{run}");
    for _ in 0..3 {
        env.run(["tick"]);
    }
    assert!(works(&new), "worker's login was revoked by a detach while its hook failed");
    fix();
    settle_until(&env, || !works(&new), "the login revoked once the detached app's hook succeeded");
}

/// Ticks until `done` holds, or fails saying `what`. Retries come within seconds, but a
/// step that found the hook still failing was retried with backoff, doubling with each
/// tick that found it so: on a loaded machine those are more, and the wait longer.
fn settle_until(env: &TestEnv, done: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !done() {
        assert!(Instant::now() < deadline, "not within 180s: {what}");
        env.run(["tick"]);
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_hook_past_its_timeout_is_killed_with_its_process_group() {
    let env = TestEnv::new();
    let pid_file = env.root().join("pid");
    let hook = format!("sleep 1000 & echo $! > {}; wait", pid_file.display());
    env.write_config(&format!("[engine]\nhook_timeout = \"1s\"\n[apps.web]\non_change = {hook:?}\n"));
    let started = Instant::now();
    let line = env.fails(1, ["config", "set", "web", "A=1"]);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(line.contains("the on_change hook of app web failed (timed out after 1s)"), "{line}");
    let pid: i32 = read(&pid_file).trim().parse().expect("the hook wrote its child's pid");
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.is_empty() || stat.contains(") Z ")
    });
    assert!(gone, "the hook's sleep {pid} outlived it");
    assert_eq!(hooks(&env, "web")["runs"][0]["result"], "timed out");
}

#[test]
fn one_apps_failing_hook_stops_nothing_of_another_app() {
    let env = TestEnv::new();
    let good = env.root().join("good");
    env.write_config(&format!(
        "[apps.bad]\non_change = \"exit 1\"\n[apps.good]\non_change = {:?}\n",
        format!("echo $SECRET_KEY > {}", good.display())
    ));
    env.ok(["provision", "secret", "bad", "--name", "bad-key"]);
    env.ok(["provision", "secret", "good", "--name", "good-key"]);
    env.ok(["tick"]);
    let run = env.run(["tick"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("error: app bad: on_change hook"), "{run}");
    assert!(!run.stderr.contains("app good"), "{run}");
    assert_eq!(env.info("bad-key")["state"], "ready");
    assert_eq!(env.info("good-key")["state"], "ready");
    assert_eq!(read(&good).trim(), env.vars("good")["SECRET_KEY"]);
    // The next vars change of the good app runs its hook at once, whatever the bad one does.
    env.ok(["rotate", "good-key", "--wait"]);
    assert_eq!(read(&good).trim(), env.vars("good")["SECRET_KEY"]);
}

#[test]
fn ticks_at_once_run_a_change_s_hook_once() {
    let env = TestEnv::new();
    let runs = env.root().join("runs");
    env.write_config(&format!("[apps.web]\non_change = {:?}\n", format!("echo run >> {}; sleep 1", runs.display())));
    env.ok(["config", "set", "web", "A=1"]);
    assert_eq!(run_count(&runs), 1);
    // A change made behind the commands' back (as another host's would be): due, not run.
    env.state_sql("UPDATE apps SET vars_version = vars_version + 1 WHERE name = 'web'");
    let ticks: Vec<_> = (0..3).map(|_| env.command(["tick"]).spawn().unwrap()).collect();
    for mut tick in ticks {
        assert!(tick.wait().unwrap().success());
    }
    assert_eq!(run_count(&runs), 2, "three ticks at once ran one change's hook more than once");
    assert_eq!(hooks(&env, "web")["due"], false);
}

#[test]
fn a_hook_waits_for_its_apps_env_file() {
    let env = TestEnv::new();
    let env_file = env.root().join("web.env");
    let copy = env.root().join("copy");
    env.write_config(&format!(
        "[apps.web]\nenv_file = {:?}\non_change = {:?}\n",
        env_file,
        format!("cp {} {}", env_file.display(), copy.display())
    ));
    env.ok(["config", "set", "web", "A=1"]);
    assert_eq!(read(&copy), read(&env_file));
    assert!(read(&copy).contains("A=1"), "{}", read(&copy));
}

#[test]
fn on_change_and_hook_timeout_are_checked_in_the_config_file() {
    let env = TestEnv::with_config("[apps.web]\non_change = \"\"\n");
    let line = env.fails(2, ["hooks", "web"]);
    assert!(line.contains("line 2: apps.web.on_change is empty"), "{line}");
    env.write_config("[engine]\nhook_timeout = \"forever\"\n");
    let line = env.fails(2, ["tick"]);
    assert!(line.contains("engine.hook_timeout"), "{line}");
    env.write_config("");
    let line = env.fails(2, ["hooks", "Web"]);
    assert!(line.contains("invalid app name"), "{line}");
    let run = env.ok(["hooks", "web"]);
    assert_eq!(run.stdout, "on_change  - (none in the config file)\nno runs recorded\n", "{run}");
}

/// The hook of `hook_output_keeps_no_form_of_any_secret`: it prints the app's secrets in
/// the forms programs print them, the first of them where the 64 KiB tail kept of a
/// run's output cuts it in half (50 of its 100 characters dropped), then the others.
const PRINTS_SECRETS: &str = r#"
password() { printf '%s' "$1" | sed -E 's,^[^:]*://[^:]*:([^@]*)@.*,\1,'; }
forms=$(
    password "$DATABASE_URL"; echo                                   # bare password
    password "$API_URL" | sed 's,%40,@,g; s,%2F,/,g'; echo           # decoded
    echo "connecting with password $(password "$DATABASE_URL") now"
    printf '{"url":"%s"}\n' "$(printf '%s' "$API_URL" | sed 's,/,\\/,g; s,&,\\u0026,g')"
    printf '%s' "$DATABASE_URL" | sed 's,:,%3A,g; s,/,%2F,g; s,@,%40,g'; echo
    printf 'nested "%s"\n' "$(printf '%s' "$API_URL" | sed 's,/,\\\\\\/,g')"
)
printf '%s\n' "$SECRET_KEY"
head -c $((65536 - 50 - 3 - ${#forms})) /dev/zero | tr '\0' y; echo
printf '%s\n' "$forms"
"#;

/// Drops a postgres addon's role and database, should a test fail before its deprovision.
struct Sweep {
    admin: String,
    id: String,
}

impl Drop for Sweep {
    fn drop(&mut self) {
        let Ok(mut admin) = common::servers::connect_postgres(&self.admin) else { return };
        let name = format!("addons_{}", self.id);
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""));
    }
}

#[test]
fn hook_output_keeps_no_form_of_any_secret() {
    let Some(admin) = common::servers::server("postgres", "hook output masking") else { return };
    let env = TestEnv::new();
    let script = env.root().join("prints-secrets.sh");
    std::fs::write(&script, PRINTS_SECRETS).unwrap();
    env.write_config(&format!(
        "{}[apps.web]\non_change = {:?}\n",
        common::servers::config("postgres", &admin),
        format!("sh {}", script.display())
    ));
    let id = env.provision_ready("postgres", "web", &["--name", "web-db"])["id"].as_str().unwrap().to_string();
    let _sweep = Sweep { admin: admin.clone(), id: id.clone() };
    env.provision_ready("secret", "web", &["--name", "web-key"]);
    env.ok(["config", "set", "web", "API_URL=https://svc:p%40ss%2Fw0rd-x9@api.example/v1?a=1&token=t0k3n-abcdefgh"]);
    let vars = env.vars("web");
    fn password(url: &str) -> &str {
        url.split_once("://").unwrap().1.split_once('@').unwrap().0.split_once(':').unwrap().1
    }
    let secrets = [
        vars["SECRET_KEY"].clone(),
        password(&vars["DATABASE_URL"]).to_string(),
        "p@ss/w0rd-x9".to_string(),
        password(&vars["API_URL"]).to_string(),
    ];
    let shown = hooks(&env, "web");
    let run = &shown["runs"][0];
    assert_eq!(run["result"], "ok", "{shown:#}");
    let lines: Vec<&str> = run["output"].as_array().unwrap().iter().map(|line| line.as_str().unwrap()).collect();
    let expected = [
        "****".to_string(),
        format!("{}...", "y".repeat(300)),
        "****".to_string(),
        "****".to_string(),
        "connecting with password **** now".to_string(),
        r#"{"url":"****"}"#.to_string(),
        "****".to_string(),
        r#"nested "****""#.to_string(),
    ];
    assert_eq!(lines, expected, "{shown:#}");
    let text = env.ok(["hooks", "web"]).stdout;
    assert!(text.contains("  connecting with password **** now\n"), "{text}");
    // Not a piece of any secret is left (6 characters in a row of one), in either output.
    for secret in &secrets {
        let chars: Vec<char> = secret.chars().collect();
        for piece in chars.windows(6).map(|piece| piece.iter().collect::<String>()) {
            assert!(
                !text.contains(&piece) && !shown.to_string().contains(&piece),
                "{piece:?} of a secret shown:\n{text}"
            );
        }
    }
    env.ok(["deprovision", "web-db", "--wait"]);
    assert_eq!(common::servers::traces("postgres", &admin, &id), Vec::<String>::new());
}

#[test]
fn a_hook_gets_the_apps_vars_and_a_clean_base_environment_only() {
    let env = TestEnv::new();
    let seen = env.root().join("seen");
    env.write_config(&format!("[apps.web]\non_change = {:?}\n", format!("env > {}", seen.display())));
    let run = env
        .command(["config", "set", "web", "GREETING=hello"])
        .env("PGPASSWORD", "admin-password")
        .env("MYSQL_PWD", "admin-password")
        .env("AWS_SECRET_ACCESS_KEY", "admin-key")
        .env("ADDONS_FAILPOINT", "none")
        .env("LANG", "C.UTF-8")
        .env("LC_TIME", "C")
        .env("TZ", "UTC")
        .env("USER", "me")
        .env("TMPDIR", "/tmp")
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let seen = read(&seen);
    let mut names: Vec<&str> = seen.lines().filter_map(|line| line.split_once('=')).map(|(name, _)| name).collect();
    // What sh itself sets.
    names.retain(|name| !["PWD", "OLDPWD", "SHLVL", "_"].contains(name));
    names.sort();
    assert_eq!(names, ["GREETING", "HOME", "LANG", "LC_TIME", "PATH", "TMPDIR", "TZ", "USER"], "{seen}");
    assert!(!seen.contains("admin-"), "{seen}");
}

#[cfg(feature = "failpoints")]
mod crashes {
    use std::os::unix::process::ExitStatusExt;

    use common::apps::App;
    use common::servers::{self, server};

    use super::*;

    /// The one var that changes when `kind` rotates.
    fn key_var(kind: &str) -> &'static str {
        match kind {
            "secret" => "SECRET_KEY",
            "redis" => "REDIS_URL",
            _ => "DATABASE_URL",
        }
    }

    /// Ticks until no addon has work left and the hook of `web` is not due.
    fn settle(env: &TestEnv) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while env.json(["tick", "--json"])["pending"] != 0 || hooks(env, "web")["due"] == true {
            assert!(Instant::now() < deadline, "not settled: {:#}", hooks(env, "web"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A rotation, then a tick killed at `point` (the switch is committed and the
    /// hook claimed), then ticks: the hook ran for the latest vars, `expected` more
    /// times, and the vars work.
    fn kill_around_a_hook(kind: &'static str) {
        let admin = match kind {
            "secret" => None,
            _ => match server(kind, &format!("{kind} hook crashes")) {
                Some(admin) => Some(admin),
                None => return,
            },
        };
        let env = TestEnv::new();
        let runs = env.root().join("runs");
        let var = key_var(kind);
        let hook = format!("echo \"${var}\" >> {}", runs.display());
        let providers = admin.as_deref().map(|admin| servers::config(kind, admin)).unwrap_or_default();
        env.write_config(&format!("{providers}[apps.web]\non_change = {hook:?}\n"));
        let id = env.provision_ready(kind, "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
        assert_eq!(run_count(&runs), 1);
        for (point, expected) in [("before-hook-run", 1), ("after-hook-run", 2)] {
            let before = run_count(&runs);
            env.ok(["rotate", "db", "--grace", "0"]);
            let out = env.command(["tick"]).env("ADDONS_FAILPOINT", point).output().unwrap();
            assert_eq!(out.status.signal(), Some(libc::SIGKILL), "tick did not die at {point}: {out:?}");
            settle(&env);
            let value = env.vars("web")[var].clone();
            let lines: Vec<String> = read(&runs).lines().map(String::from).collect();
            assert_eq!(lines.len() - before, expected, "{kind} {point}: runs {lines:#?}");
            assert!(lines[before..].iter().all(|line| *line == value), "{kind} {point}: the hook ran with old vars");
            if kind != "secret" {
                let app = App {
                    kind,
                    url: value.clone(),
                    prefix: env.vars("web").get("REDIS_KEY_PREFIX").cloned().unwrap_or_default(),
                };
                assert!(app.works(), "{kind}: the vars do not work after a kill at {point}");
            }
            let shown = hooks(&env, "web");
            assert_eq!(shown["hook_version"], shown["vars_version"], "{shown:#}");
            assert_eq!(env.state_sql("SELECT hook_claim FROM apps WHERE name = 'web'"), [[None]]);
        }
        env.ok(["deprovision", "db", "--wait"]);
        if let Some(admin) = &admin {
            assert_eq!(servers::traces(kind, admin, &id), Vec::<String>::new(), "{kind}: left on the server");
        }
    }

    #[test]
    fn secret_hook_survives_a_kill_before_and_after_it_runs() {
        kill_around_a_hook("secret");
    }

    #[test]
    fn postgres_hook_survives_a_kill_before_and_after_it_runs() {
        kill_around_a_hook("postgres");
    }

    #[test]
    fn mysql_hook_survives_a_kill_before_and_after_it_runs() {
        kill_around_a_hook("mysql");
    }

    #[test]
    fn redis_hook_survives_a_kill_before_and_after_it_runs() {
        kill_around_a_hook("redis");
    }
}
