//! Running an app's `on_change` hook: `sh -c COMMAND` with the app's vars and a clean
//! base environment, in a process group of its own, stdin empty, stdout and stderr
//! kept together in a bounded tail (every secret in it masked), and the whole group
//! killed when it runs too long.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::masking::Secrets;

/// How many of the last lines of a run's output are kept.
pub const KEPT_LINES: usize = 20;
/// How long a kept line may be (longer ones are cut, marked with `...`).
const LINE_CHARS: usize = 300;
/// How many bytes of output are held while a hook runs (the tail of them).
const TAIL_BYTES: usize = 64 * 1024;
/// The variables of `addons`' own environment that a hook gets besides the app's vars
/// (and every `LC_*`): what a shell and the usual tools need, and none of the settings
/// and credentials `addons` itself runs with (`ADDONS_STATE`, `PGPASSWORD`, ...).
pub const BASE_ENVIRONMENT: [&str; 7] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR"];

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// `sh` exited with this status (0: the hook succeeded).
    Exited(i32),
    /// `sh` was ended by this signal (not ours).
    Signalled(i32),
    /// It ran past the timeout; its process group was killed.
    TimedOut,
    /// `sh` could not be started.
    CouldNotStart(String),
}

impl Ending {
    /// Whether the hook did its job.
    pub fn succeeded(&self) -> bool {
        *self == Ending::Exited(0)
    }

    /// How it is stored: `ok`, `failed`, `timed out` or `could not start`.
    pub fn result(&self) -> &'static str {
        match self {
            Ending::Exited(0) => "ok",
            Ending::Exited(_) | Ending::Signalled(_) => "failed",
            Ending::TimedOut => "timed out",
            Ending::CouldNotStart(_) => "could not start",
        }
    }

    /// The exit status, when `sh` exited.
    pub fn exit_status(&self) -> Option<i32> {
        match self {
            Ending::Exited(status) => Some(*status),
            _ => None,
        }
    }

    /// For people: "exit 0", "killed by signal 9", "timed out after 60s", ...
    pub fn describe(&self, timeout: Duration) -> String {
        match self {
            Ending::Exited(status) => format!("exit {status}"),
            Ending::Signalled(signal) => format!("killed by signal {signal}"),
            Ending::TimedOut => format!("timed out after {}", humantime::format_duration(timeout)),
            Ending::CouldNotStart(why) => format!("could not start: {why}"),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Finished {
    pub ending: Ending,
    /// The last [`KEPT_LINES`] lines of stdout and stderr together, secrets masked.
    pub output: String,
}

/// The last [`TAIL_BYTES`] of a run's output, and whether older output was dropped.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    cut: bool,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > TAIL_BYTES {
            let mut cut = self.bytes.len() - TAIL_BYTES;
            // Not inside a character: its first byte would be gone.
            while self.bytes.get(cut).is_some_and(|byte| byte & 0b1100_0000 == 0b1000_0000) {
                cut += 1;
            }
            self.bytes.drain(..cut);
            self.cut = true;
        }
    }
}

/// Runs `command` through `sh -c` with `vars` and the [`BASE_ENVIRONMENT`] as its
/// environment, for at most `timeout`; every form of `secrets` is masked in the output kept.
pub fn run(command: &str, vars: &[(String, String)], timeout: Duration, secrets: &Secrets) -> Finished {
    let tail = Arc::new(Mutex::new(Tail::default()));
    let ending = run_into(command, vars, timeout, &tail);
    let tail = std::mem::take(&mut *tail.lock().unwrap_or_else(|e| e.into_inner()));
    let text = secrets.mask_cut(&String::from_utf8_lossy(&tail.bytes), tail.cut);
    Finished { ending, output: last_lines(&text) }
}

/// `addons`' own environment, less what a hook must not get.
fn base_environment() -> impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)> {
    std::env::vars_os().filter(|(key, _)| {
        let key = key.to_string_lossy();
        BASE_ENVIRONMENT.contains(&key.as_ref()) || key.starts_with("LC_")
    })
}

fn run_into(command: &str, vars: &[(String, String)], timeout: Duration, tail: &Arc<Mutex<Tail>>) -> Ending {
    let (mut reader, writer) = match std::io::pipe() {
        Ok(pipe) => pipe,
        Err(err) => return Ending::CouldNotStart(format!("making a pipe: {err}")),
    };
    let child = {
        // Dropped before waiting, so only the hook's processes hold the pipe's write end.
        let mut sh = Command::new("sh");
        let stderr = match writer.try_clone() {
            Ok(stderr) => stderr,
            Err(err) => return Ending::CouldNotStart(format!("making a pipe: {err}")),
        };
        sh.arg("-c")
            .arg(command)
            .env_clear()
            .envs(base_environment())
            .envs(vars.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(stderr)
            .process_group(0);
        sh.spawn()
    };
    let mut child = match child {
        Ok(child) => child,
        Err(err) => return Ending::CouldNotStart(err.to_string()),
    };
    let reading = {
        let tail = tail.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(read) = reader.read(&mut chunk) {
                if read == 0 {
                    break;
                }
                tail.lock().unwrap_or_else(|e| e.into_inner()).push(&chunk[..read]);
            }
        })
    };
    let started = Instant::now();
    let group = child.id() as i32;
    let mut pause = Duration::from_millis(1);
    let ending = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                use std::os::unix::process::ExitStatusExt;
                break match (status.code(), status.signal()) {
                    (Some(code), _) => Ending::Exited(code),
                    (None, Some(signal)) => Ending::Signalled(signal),
                    (None, None) => Ending::Signalled(0),
                };
            }
            Ok(None) if started.elapsed() >= timeout => {
                // SAFETY: kill(2) on the hook's own process group (its pid, made by process_group(0)).
                unsafe { libc::kill(-group, libc::SIGKILL) };
                let _ = child.wait();
                break Ending::TimedOut;
            }
            Ok(None) => {
                // Quick hooks are seen at once; a slow one is looked at every 20ms.
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(err) => {
                // SAFETY: as above.
                unsafe { libc::kill(-group, libc::SIGKILL) };
                let _ = child.wait();
                break Ending::CouldNotStart(format!("waiting for it: {err}"));
            }
        }
    };
    // A process the hook left running in the background may hold the output open:
    // what it printed so far is kept, and it is not waited for.
    let waited = Instant::now();
    while !reading.is_finished() && waited.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(1));
    }
    if reading.is_finished() {
        let _ = reading.join();
    }
    ending
}

/// The last [`KEPT_LINES`] lines of `text` (masked already), each cut at [`LINE_CHARS`].
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(KEPT_LINES);
    lines[start..]
        .iter()
        .map(|line| match line.char_indices().nth(LINE_CHARS) {
            Some((at, _)) => format!("{}...", &line[..at]),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn runs_with_the_vars_and_keeps_the_last_lines_masked() {
        let secret = "s3cr3t-value-123".to_string();
        let finished = run(
            "for i in $(seq 1 30); do echo line $i; done; echo \"key=$SECRET_KEY\" >&2; exit 3",
            &vars(&[("SECRET_KEY", &secret)]),
            Duration::from_secs(10),
            &Secrets::new([secret.as_str()]),
        );
        assert_eq!(finished.ending, Ending::Exited(3));
        assert_eq!(finished.ending.result(), "failed");
        let lines: Vec<&str> = finished.output.lines().collect();
        assert_eq!(lines.len(), KEPT_LINES);
        assert_eq!(lines[0], "line 12");
        assert_eq!(lines[KEPT_LINES - 1], "key=****");
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let command = format!("sleep 1000 & echo $! > {}; echo started; wait", pid_file.display());
        let started = Instant::now();
        let finished = run(&command, &[], Duration::from_millis(500), &Secrets::default());
        assert_eq!(finished.ending, Ending::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert_eq!(finished.output, "started");
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        // The killed sleep may linger a moment as a zombie of init; wait for it to go.
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            // SAFETY: signal 0 only checks whether the process exists.
            let missing = unsafe { libc::kill(pid, 0) } != 0;
            missing || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat.contains(") Z "))
        });
        assert!(gone, "sleep {pid} outlived its hook");
    }

    #[test]
    fn the_tail_is_cut_between_characters() {
        let mut tail = Tail::default();
        tail.push(format!("{}x", "é".repeat(TAIL_BYTES / 2)).as_bytes());
        assert!(tail.cut);
        let kept = String::from_utf8(tail.bytes).expect("cut between characters");
        assert!(kept == format!("{}x", "é".repeat(TAIL_BYTES / 2 - 1)), "{} bytes kept", kept.len());
    }

    #[test]
    fn long_lines_are_cut() {
        let text = format!("{}\nport 5432", "x".repeat(400));
        assert_eq!(last_lines(&text), format!("{}...\nport 5432", "x".repeat(LINE_CHARS)));
        assert_eq!(Ending::TimedOut.describe(Duration::from_secs(60)), "timed out after 1m");
    }
}
