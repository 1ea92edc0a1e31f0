//! Separate "hosts" on one machine, for the multi-host tests: each host is a shell
//! under `unshare --uts --pid --mount-proc` (its own hostname, its own pid numbers, so
//! pids collide between hosts) that runs `addons` commands on the state of one
//! [`TestEnv`], with that environment's variables and a provider-call log of its own.
//! Killing a host's namespace init takes every process of that host with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Run, TestEnv};

/// No host should take longer than this: a guard against a hang, not a measure (a
/// host's few hundred ticks share the machine with the rest of the suite).
const HOST_LIMIT: Duration = Duration::from_secs(240);

/// Whether hosts can be made here (`unshare` needs root). Prints
/// `NOTICE: skipping <skipping>: <why>` when not; with ADDONS_TEST_REQUIRE_SERVERS=1
/// it fails the test instead.
pub fn available(skipping: &str) -> bool {
    let probe = Command::new("unshare")
        .args(["--uts", "--pid", "--fork", "--mount-proc", "sh", "-c", "hostname probe"])
        .stdin(Stdio::null())
        .output();
    let problem = match probe {
        Ok(output) if output.status.success() => return true,
        Ok(output) => format!("unshare --uts --pid failed: {}", String::from_utf8_lossy(&output.stderr).trim()),
        Err(err) => format!("unshare could not run: {err}"),
    };
    let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but {problem} (the multi-host tests need root)");
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "NOTICE: skipping {skipping}: {problem}");
    false
}

/// Milliseconds since the epoch, on this machine's clock.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_millis() as i64
}

/// One provider-call log: (operation, addon id) -> the pids (in the caller's pid
/// namespace) that made that call.
pub type Calls = BTreeMap<(String, String), Vec<u32>>;

/// Reads the provider-call log at `path` (empty when there is none).
pub fn read_calls(path: &Path) -> Calls {
    let mut out = Calls::new();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "a torn call-log line in {}: {line:?}", path.display());
        out.entry((parts[1].to_string(), parts[2].to_string())).or_default().push(parts[0].parse().unwrap());
    }
    out
}

/// How many times `operation` was called for addon `id`.
pub fn count(calls: &Calls, operation: &str, id: &str) -> usize {
    calls.get(&(operation.to_string(), id.to_string())).map_or(0, Vec::len)
}

/// One addon to provision before the hosts start.
pub struct Planned {
    pub provider: String,
    pub app: String,
    pub name: String,
    pub prefix: String,
}

/// Provisions `planned` through the binary (`provision -q`, `workers` at a time) in
/// `env`, logging provider calls to `call_log`. Any failure or word of a locked state
/// fails the test.
pub fn provision_all(env: &TestEnv, planned: &[Planned], workers: usize, call_log: &Path) {
    let failures: Vec<String> = std::thread::scope(|scope| {
        let chunks = planned.chunks(planned.len().div_ceil(workers).max(1));
        let handles: Vec<_> = chunks
            .map(|chunk| {
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for addon in chunk {
                        let args = [
                            "provision",
                            &addon.provider,
                            &addon.app,
                            "--name",
                            &addon.name,
                            "--as",
                            &addon.prefix,
                            "-q",
                        ];
                        let output = env.command(args).env("ADDONS_CALL_LOG", call_log).output().expect("run addons");
                        let run = Run {
                            code: output.status.code().unwrap_or(-1),
                            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                        };
                        if run.code != 0 || run.stderr.to_lowercase().contains("locked") {
                            failures.push(format!("addons {}:\n{run}", args.join(" ")));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().expect("a provisioning thread panicked")).collect()
    });
    assert!(failures.is_empty(), "provisioning failed:\n{}", failures.join("\n"));
}

/// What a host runs: `ticks` runs of `tick --json` in a row and, at the same time,
/// one `watch --json` (which ends when no work is left).
pub struct Plan {
    pub ticks: usize,
}

/// A running host.
pub struct Host {
    /// Its hostname.
    pub name: String,
    /// Where its processes' outputs, exit codes and call log go.
    pub dir: PathBuf,
    /// When it was started (ms since the epoch): no claim of it is older.
    pub started_at: i64,
    unshare: Child,
}

/// What one host's processes did.
pub struct Finished {
    /// The hostname the host saw.
    pub hostname: String,
    /// Each command's run, by label (`watch`, `tick-1`, ...).
    pub runs: BTreeMap<String, Run>,
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl Host {
    /// Starts host `name` running `plan` on `env`'s state, with `env`'s variables
    /// (taken from [`TestEnv::command`], so whichever state backend the environment
    /// uses) plus `extra`.
    pub fn start(env: &TestEnv, name: &str, plan: &Plan, extra: &[(&str, &str)]) -> Host {
        // A host started again on the same state gets a fresh directory (and call log).
        let dir = (1..)
            .map(|run| env.root().join("hosts").join(format!("{name}.{run}")))
            .find(|dir| !dir.exists())
            .expect("a free host dir");
        std::fs::create_dir_all(&dir).expect("host dir");
        let d = |file: &str| quoted(&dir.join(file).display().to_string());
        let mut script = format!(
            "hostname {name} || exit 97\nhostname > {hostname}\n\
             run() {{ label=$1; shift; {bin} \"$@\" > {dir}/$label.out 2> {dir}/$label.err; \
             echo $? > {dir}/$label.code; }}\n\
             run watch watch --json &\n",
            name = quoted(name),
            hostname = d("hostname"),
            bin = quoted(super::BIN),
            dir = quoted(&dir.display().to_string()),
        );
        for tick in 1..=plan.ticks {
            script.push_str(&format!("run tick-{tick} tick --json\n"));
        }
        script.push_str("wait\n");
        let template = env.command(std::iter::empty::<&str>());
        let mut command = Command::new("unshare");
        command
            .args(["--uts", "--pid", "--fork", "--mount-proc", "sh", "-c", &script])
            .env_clear()
            .current_dir(env.root())
            .env("ADDONS_CALL_LOG", dir.join("calls.log"))
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("unshare.out")).expect("unshare.out"))
            .stderr(File::create(dir.join("unshare.err")).expect("unshare.err"));
        for (key, value) in template.get_envs() {
            if let Some(value) = value {
                command.env(key, value);
            }
        }
        for (key, value) in extra {
            command.env(key, value);
        }
        let started_at = now_ms();
        let unshare = command.spawn().expect("start unshare");
        Host { name: name.to_string(), dir, started_at, unshare }
    }

    /// This host's provider-call log.
    pub fn calls(&self) -> Calls {
        read_calls(&self.dir.join("calls.log"))
    }

    /// The pid (as this process sees it) of the host's namespace init: the shell
    /// that `unshare --fork` started, pid 1 inside.
    fn init_pid(&self) -> u32 {
        let parent = self.unshare.id();
        let started = Instant::now();
        loop {
            for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
                // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
                let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                if after_comm.split_whitespace().nth(1) == Some(&parent.to_string()) {
                    return pid;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(10), "host {} has no namespace init", self.name);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILLs the host's namespace init, which takes every process of the host with
    /// it; returns once none is left.
    pub fn kill(mut self) {
        let init = self.init_pid();
        let status = std::fs::read_to_string(format!("/proc/{init}/status")).expect("init status");
        let nspid = status.lines().find(|line| line.starts_with("NSpid:")).expect("NSpid line");
        assert!(nspid.trim_end().ends_with("\t1"), "host {} init is not pid 1 inside: {nspid}", self.name);
        let namespace = std::fs::read_link(format!("/proc/{init}/ns/pid")).expect("init's pid namespace");
        let killed = Command::new("kill").args(["-KILL", &init.to_string()]).status().expect("run kill");
        assert!(killed.success(), "kill -KILL {init} failed");
        self.unshare.wait().expect("wait for unshare");
        let started = Instant::now();
        loop {
            let left: Vec<u32> = std::fs::read_dir("/proc")
                .expect("/proc")
                .flatten()
                .filter_map(|entry| entry.file_name().to_string_lossy().parse::<u32>().ok())
                .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|ns| ns == namespace))
                .collect();
            if left.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "processes {left:?} of host {} outlived its init",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the host (killing it and failing after a limit); returns what each
    /// of its processes did.
    pub fn finish(mut self) -> Finished {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.unshare.try_wait().expect("wait for unshare") {
                break status;
            }
            if started.elapsed() > HOST_LIMIT {
                let _ = Command::new("kill").args(["-KILL", &self.init_pid().to_string()]).status();
                let _ = self.unshare.wait();
                panic!("host {} did not finish within {HOST_LIMIT:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |file: &str| std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        assert!(status.success(), "host {} ended with {status}: {}", self.name, read("unshare.err"));
        let mut runs = BTreeMap::new();
        let labels: BTreeSet<String> = std::fs::read_dir(&self.dir)
            .expect("host dir")
            .flatten()
            .filter_map(|entry| entry.file_name().to_string_lossy().strip_suffix(".out").map(str::to_string))
            .filter(|label| label != "unshare")
            .collect();
        for label in labels {
            let code = read(&format!("{label}.code"));
            let run = Run {
                code: code.trim().parse().unwrap_or(-1),
                stdout: read(&format!("{label}.out")),
                stderr: read(&format!("{label}.err")),
            };
            runs.insert(label, run);
        }
        Finished { hostname: read("hostname").trim().to_string(), runs }
    }
}

impl Finished {
    /// Asserts every process exited 0 without a word about a locked state.
    pub fn assert_ok(&self) {
        for (label, run) in &self.runs {
            assert_eq!(run.code, 0, "{label} on host {} failed:\n{run}", self.hostname);
            assert!(
                !run.stderr.to_lowercase().contains("locked"),
                "{label} on host {} met a locked state:\n{run}",
                self.hostname
            );
        }
    }

    /// The transitions the host's processes reported: (addon name, from, to).
    pub fn transitions(&self) -> Vec<(String, String, String)> {
        let text = |value: &serde_json::Value| value.as_str().expect("a string").to_string();
        self.runs
            .values()
            .flat_map(|run| run.json()["transitions"].as_array().expect("transitions").clone())
            .map(|t| (text(&t["name"]), text(&t["from"]), text(&t["to"])))
            .collect()
    }
}
