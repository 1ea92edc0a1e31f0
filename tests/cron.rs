//! `addons tick` as cron runs it: it mails every line a tick prints, so a tick says a
//! step that keeps failing once it has failed for `engine.warn_after`, then nothing
//! while it goes on (until `engine.warn_every`), once more when it is over; an idle
//! tick says nothing, even with `-v`; the README's crontab line runs from cron's PATH.

use crate::common;

use std::time::{Duration, Instant};

use common::servers::{self, server};
use common::TestEnv;

/// What cron would mail of one run: every line on stdout and stderr.
fn mailed(run: &common::Run) -> Vec<String> {
    run.stdout.lines().chain(run.stderr.lines()).map(str::to_string).collect()
}

/// Ten cron ticks over a fleet with one addon whose server is down: one line when the
/// trouble has lasted `warn_after` (exit 1), none in between (exit 0), one when it is over.
#[test]
fn cron_hears_of_a_failing_step_once_then_nothing_then_once_when_it_is_over() {
    let Some(redis) = server("redis", "cron hearing of trouble") else { return };
    let engine = "[engine]\nwarn_after = \"1s\"\n";
    let env = TestEnv::with_config(&format!("{engine}{}", servers::config("redis", &redis)));
    for n in 0..5 {
        env.provision_ready("secret", &format!("app-{n}"), &[]);
    }
    env.ok(["provision", "redis", "cache-app", "--name", "cache"]);
    // The server goes away (nothing listens on port 1) before the first tick.
    env.write_config(&format!("{engine}{}", servers::config("redis", "redis://127.0.0.1:1")));
    let tick = || env.run(["-q", "tick"]);

    let first = tick();
    assert_eq!((first.code, mailed(&first)), (0, vec![]), "a step failing for less than warn_after is said:\n{first}");
    std::thread::sleep(Duration::from_millis(1100));
    let said = tick();
    assert_eq!(said.code, 1, "{said}");
    let lines = mailed(&said);
    assert_eq!(lines.len(), 1, "{said}");
    assert!(lines[0].starts_with("error: cache (app cache-app): its provisioning has been failing since "), "{said}");
    assert!(lines[0].contains("127.0.0.1:1"), "the line does not say what fails: {said}");
    for _ in 0..8 {
        let run = tick();
        assert_eq!((run.code, mailed(&run)), (0, vec![]), "said again before warn_every:\n{run}");
    }

    env.write_config(&format!("{engine}{}", servers::config("redis", &redis)));
    let mut over = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.info("cache")["state"] != "ready" {
        assert!(Instant::now() < deadline, "cache did not get ready once its server was back");
        let run = tick();
        assert_eq!(run.code, 0, "{run}");
        over.extend(mailed(&run));
        std::thread::sleep(Duration::from_millis(300));
    }
    let run = tick();
    over.extend(mailed(&run));
    assert_eq!(over.len(), 1, "{over:?}");
    assert!(over[0].starts_with("notice: cache (app cache-app) fails no more (it was failing since "), "{over:?}");
    env.ok(["deprovision", "cache", "--wait"]);
}

/// A tick with nothing to do prints nothing at all, `-v` included: the config and state
/// lines of `-v` come only before a line about work done.
#[test]
fn an_idle_tick_says_nothing_even_with_v() {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &[]);
    for args in [&["tick"][..], &["-v", "tick"]] {
        let run = env.run(args);
        assert_eq!((run.code, mailed(&run)), (0, vec![]), "addons {args:?} on a settled fleet:\n{run}");
    }
    env.ok(["provision", "secret", "worker"]);
    let run = env.ok(["-v", "tick"]);
    assert!(run.stderr.lines().any(|line| line.starts_with("addons: state ")), "{run}");
}

/// The crontab line the README gives runs from cron's own environment (PATH=/usr/bin:/bin,
/// HOME set), the binary installed where the README says.
#[test]
fn the_readmes_crontab_line_runs_from_crons_path() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme.lines().find(|line| line.starts_with("* * * * * ")).expect("a crontab line in the README");
    let command = line.trim_start_matches("* * * * * ");
    let env = TestEnv::new();
    let home = env.root().join("home");
    let bin = home.join(".cargo/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(common::BIN, bin.join("addons")).unwrap();
    std::fs::create_dir_all(home.join(".config/addons")).unwrap();
    let cron = |command: &str| {
        std::process::Command::new("/bin/sh")
            .args(["-c", command])
            .env_clear()
            .env("HOME", &home)
            .env("PATH", "/usr/bin:/bin")
            .env("SHELL", "/bin/sh")
            .output()
            .unwrap()
    };
    // The state the user's shell made, in the default place under HOME.
    let made = cron(&format!("{} provision secret web --wait", common::BIN));
    assert!(made.status.success(), "{made:?}");
    let out = cron(command);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.is_empty(), "`{command}` from cron's PATH: {:?}\n{said}", out.status);
}
