//! Wake-ups instead of polling: a sleeping `watch --forever` moves work another
//! process adds at once (not after its long safety recheck), ends promptly on a
//! signal, and costs next to no CPU while it sleeps; it follows a state file renamed
//! over its path, and stops when the file is removed. Through the real binary; the
//! state is wherever TestEnv puts it (a file, or a PostgreSQL schema when
//! ADDONS_TEST_STATE_BACKEND=postgres; the state-file tests keep a file).

use crate::common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use common::TestEnv;

/// Generous for a noisy CI machine; the old polling took up to 5 s, the benchmark
/// measures the real figure (tens of milliseconds).
const WAKE_BOUND: Duration = Duration::from_secs(2);
/// How long a step may take to show when nothing is being measured.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `watch --forever` and its stdout, line by line; its stderr goes to a file.
struct Watcher {
    child: Child,
    lines: Receiver<String>,
    stderr: PathBuf,
}

impl Watcher {
    fn start(env: &TestEnv) -> Watcher {
        let stderr = env.root().join("watch.err");
        let mut child = env
            .command(["watch", "--forever"])
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr).expect("create the watch's stderr file"))
            .spawn()
            .expect("start watch");
        let stdout = child.stdout.take().expect("piped stdout");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Watcher { child, lines, stderr }
    }

    /// What the watch printed on stderr so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).expect("read the watch's stderr")
    }

    /// Waits up to `limit` for the watch to exit on its own; its exit code.
    fn exit_within(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("look at the watch") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("watch did not exit within {limit:?}; stderr:\n{}", self.stderr());
    }

    /// Waits up to `limit` for a line containing `text`; how long it took.
    fn line_within(&self, text: &str, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let left = limit.saturating_sub(started.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return started.elapsed(),
                Ok(_) => {}
                Err(_) => panic!("watch printed no line with {text:?} within {limit:?}"),
            }
        }
    }

    /// Sends SIGTERM and waits for the exit; how long the exit took.
    fn stop(mut self) -> (Option<i32>, Duration) {
        let sent = Instant::now();
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for watch");
        (status.code(), sent.elapsed())
    }

    /// CPU time (user + system) the watcher has used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("read /proc/PID/stat");
        // Fields after the command name (which may hold spaces) in parentheses:
        // state is field 3, utime 14, stime 15.
        let after = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a watcher and lets it finish one addon, so that it is asleep with no work
/// when this returns (it just printed its last transition).
fn idle_watcher(env: &TestEnv) -> Watcher {
    env.ok(["provision", "secret", "first", "--name", "first"]);
    let watcher = Watcher::start(env);
    watcher.line_within("first: provisioned -> ready", PATIENCE);
    watcher
}

#[test]
fn a_sleeping_watch_moves_an_addon_another_process_provisions_at_once() {
    let env = TestEnv::new();
    let watcher = idle_watcher(&env);
    // Right after its last transition the watcher sleeps for as long as it may: the
    // polling this replaced would have looked again only 5 s later.
    env.ok(["provision", "secret", "second", "--name", "second"]);
    let took = watcher.line_within("second: waiting_for_provision -> provisioned", WAKE_BOUND);
    watcher.line_within("second: provisioned -> ready", PATIENCE);
    eprintln!("the sleeping watch moved the new addon after {took:?}");
    // A deprovision by another process is new work too.
    env.ok(["deprovision", "second"]);
    watcher.line_within("second: deprovisioned cleanup", WAKE_BOUND);
    let (code, stopped) = watcher.stop();
    assert_eq!(code, Some(0));
    assert!(stopped < Duration::from_secs(2), "a sleeping watch took {stopped:?} to stop on SIGTERM");
}

#[test]
fn a_sleeping_watch_uses_next_to_no_cpu() {
    let env = TestEnv::new();
    let watcher = idle_watcher(&env);
    let before = watcher.cpu_time();
    std::thread::sleep(Duration::from_secs(10));
    let used = watcher.cpu_time() - before;
    assert!(used < Duration::from_millis(200), "an idle watch --forever used {used:?} of CPU in 10 s");
    let (code, _) = watcher.stop();
    assert_eq!(code, Some(0));
}

/// Another file renamed over the state file under a running `watch --forever` (a
/// restored backup, a copy moved into place) is followed: the watch moves the addon
/// due in the new file within a few seconds, says once on stderr that it moved to the
/// new file, and what it did is in the file at the path.
#[test]
fn a_watch_follows_a_state_file_renamed_over_its_path() {
    let env = TestEnv::on_sqlite_file();
    assert!(env.postgres.is_none(), "a test of the state file");
    let watcher = idle_watcher(&env);
    // Made by another addons process beside the state file, which it then closed.
    let replacement = env.data_dir().join("replacement.db");
    let made = env
        .command(["provision", "secret", "second", "--name", "second"])
        .env("ADDONS_STATE", &replacement)
        .output()
        .expect("run addons");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    std::fs::rename(&replacement, &env.state).expect("rename the new state file over the old");
    let took = watcher.line_within("second: waiting_for_provision -> provisioned", Duration::from_secs(5));
    watcher.line_within("second: provisioned -> ready", PATIENCE);
    eprintln!("the watch moved the addon of the new state file after {took:?}");
    let said = watcher.stderr();
    let path = env.state.display().to_string();
    assert_eq!(
        said,
        format!("warning: state file {path} was replaced (renamed over) while watch ran; now on the new file\n"),
    );
    let (code, _) = watcher.stop();
    assert_eq!(code, Some(0));
    assert_eq!(env.info("second")["state"], "ready");
    assert_eq!(env.state_sql("PRAGMA integrity_check"), [[Some("ok".to_string())]]);
    let names: Vec<String> =
        env.json(["list", "--all", "--json"]).as_array().unwrap().iter().map(|a| a["name"].to_string()).collect();
    assert_eq!(names, ["\"second\""], "the old file's addon is not in the new one");
}

/// A state file removed under a running `watch --forever` stops it with exit 4 and one
/// line on stderr within a few seconds, rather than leaving it working on a file
/// nobody can see (or making an empty one in its place).
#[test]
fn a_watch_stops_with_exit_4_when_its_state_file_is_removed() {
    let env = TestEnv::on_sqlite_file();
    assert!(env.postgres.is_none(), "a test of the state file");
    let mut watcher = idle_watcher(&env);
    std::fs::remove_file(&env.state).expect("remove the state file");
    assert_eq!(watcher.exit_within(Duration::from_secs(5)), Some(4));
    let said = watcher.stderr();
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.starts_with(&format!("error: state file {}: removed while", env.state.display())), "{said}");
    assert!(!env.state.exists(), "the watch made a state file again");
}

/// Times written by a host whose clock is a day ahead (`ADDONS_CLOCK_OFFSET_MS`, read
/// by builds with the failpoints feature) do not keep a sleeping `watch --forever` on
/// a correct host asleep for that day: what that host provisions, and then
/// deprovisions, is moved within a few seconds.
#[cfg(feature = "failpoints")]
#[test]
fn a_host_a_day_ahead_does_not_put_off_a_sleeping_watch() {
    let env = TestEnv::new();
    let watcher = idle_watcher(&env);
    let ahead = |args: &[&str]| {
        let run = env.command(args).env("ADDONS_CLOCK_OFFSET_MS", "86400000").output().expect("run addons");
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    };
    ahead(&["provision", "secret", "ahead", "--name", "ahead"]);
    watcher.line_within("ahead: waiting_for_provision -> provisioned", Duration::from_secs(5));
    watcher.line_within("ahead: provisioned -> ready", Duration::from_secs(5));
    ahead(&["deprovision", "ahead"]);
    watcher.line_within("ahead: deprovisioned cleanup", Duration::from_secs(5));
    let (code, _) = watcher.stop();
    assert_eq!(code, Some(0));
}
