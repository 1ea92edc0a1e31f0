//! The test environment for tests that drive the real binary: a temp dir of its own
//! with its own state and config paths, and a clean process environment.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

pub mod apps;
pub mod hosts;
pub mod readers;
pub mod servers;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// An app's config vars: key to value.
pub type Vars = BTreeMap<String, String>;

/// Every subcommand, as `--help` lists them.
pub const SUBCOMMANDS: [&str; 17] = [
    "provision",
    "deprovision",
    "rotate",
    "check",
    "list",
    "info",
    "log",
    "tick",
    "watch",
    "wait",
    "env",
    "run",
    "config",
    "providers",
    "graph",
    "completions",
    "man",
];

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_addons");

/// One isolated run of `addons`: a temp dir that is also `HOME`, a state path and a
/// config path inside it, and no inherited `ADDONS_*` (or anything else).
pub struct TestEnv {
    dir: tempfile::TempDir,
    /// Where the state file lives (`ADDONS_STATE`); its directory does not exist at first.
    pub state: PathBuf,
    /// Where the config file lives (`ADDONS_CONFIG`); missing until a test writes it.
    pub config: PathBuf,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Run {
        Run {
            // A run killed by a signal has no code; -1 never matches an expected one.
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    /// stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err}):\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}\n--- stdout ---\n{}--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

impl TestEnv {
    /// A fresh environment with no state file and no config file.
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new().prefix("addons-test").tempdir().expect("temp dir");
        let state = dir.path().join("state").join("state.db");
        let config = dir.path().join("config.toml");
        TestEnv { dir, state, config }
    }

    /// A fresh environment with this config file.
    pub fn with_config(text: &str) -> TestEnv {
        let env = TestEnv::new();
        env.write_config(text);
        env
    }

    /// The temp dir (also `HOME`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The binary's data directory: the state file's directory.
    pub fn data_dir(&self) -> PathBuf {
        self.state.parent().expect("the state path has a directory").to_path_buf()
    }

    /// Where the sqlite provider puts its files when the config names no `dir`.
    pub fn sqlite_dir(&self) -> PathBuf {
        self.data_dir().join("sqlite")
    }

    /// Writes the config file.
    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).expect("write config");
    }

    /// A command for the binary with a clean environment: PATH, HOME (the temp
    /// dir), the state path and (once a test wrote it: a named config file must
    /// exist) the config path of this environment, and no stdin.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.bare_command(args);
        command.env("ADDONS_STATE", &self.state);
        if self.config.symlink_metadata().is_ok() {
            command.env("ADDONS_CONFIG", &self.config);
        }
        command
    }

    /// Like [`TestEnv::command`] but without `ADDONS_STATE` and `ADDONS_CONFIG`, so the
    /// defaults under `HOME` apply.
    pub fn bare_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root())
            .current_dir(self.root())
            .stdin(Stdio::null());
        command
    }

    /// Runs the binary to completion.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from_output(self.command(args).output().expect("run addons"))
    }

    /// Runs the binary to completion; returns the arguments as text (for failure
    /// messages) and what it did.
    fn run_shown<I, S>(&self, args: I) -> (String, Run)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        (show_args(&args), self.run(args))
    }

    /// Runs the binary, asserting exit 0; returns what it did.
    pub fn ok<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (shown, run) = self.run_shown(args);
        assert_eq!(run.code, 0, "addons {shown} failed:\n{run}");
        run
    }

    /// Runs the binary, asserting exit 0 and stdout holding one JSON document.
    pub fn json<I, S>(&self, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.ok(args).json()
    }

    /// Runs the binary and asserts DESIGN.md's bad-input contract: exit `code`,
    /// nothing on stdout, exactly one line on stderr. Returns that line.
    pub fn fails<I, S>(&self, code: i32, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (shown, run) = self.run_shown(args);
        assert_eq!(run.code, code, "addons {shown}: wrong exit code:\n{run}");
        assert_eq!(run.stdout, "", "addons {shown}: printed on stdout:\n{run}");
        assert_eq!(run.stderr.lines().count(), 1, "addons {shown}: not exactly one line on stderr:\n{run}");
        assert!(run.stderr.ends_with('\n'), "{run}");
        run.stderr.trim_end().to_string()
    }

    /// Provisions an addon and ticks it to ready; returns the addon as JSON.
    pub fn provision_ready(&self, provider: &str, app: &str, extra: &[&str]) -> Value {
        let mut args = vec!["provision", provider, app, "--wait", "--json"];
        args.extend_from_slice(extra);
        let addon = self.json(args);
        assert_eq!(addon["state"], "ready", "{addon:#}");
        addon
    }

    /// One addon as `info --json` shows it.
    pub fn info(&self, addon: &str) -> Value {
        self.json(["info", addon, "--json"])
    }

    /// An app's config vars, unmasked, as `env --format json` prints them.
    pub fn vars(&self, app: &str) -> Vars {
        let vars = self.json(["env", app, "--format", "json"]);
        serde_json::from_value(vars.clone()).unwrap_or_else(|err| panic!("env --format json printed {vars} ({err})"))
    }

    /// The bytes of the state file and of its WAL (when one exists), to prove a
    /// command left the state exactly as it was.
    pub fn state_bytes(&self) -> Vec<(String, Vec<u8>)> {
        ["", "-wal"]
            .iter()
            .filter_map(|suffix| {
                let path = PathBuf::from(format!("{}{suffix}", self.state.display()));
                std::fs::read(&path).ok().map(|bytes| (path.display().to_string(), bytes))
            })
            .collect()
    }

    /// Replaces what changes from run to run (the temp dir, RFC 3339 times) with
    /// fixed text, so whole outputs can be compared. A time keeps its width, so
    /// table columns stay aligned.
    pub fn normalize(&self, text: &str) -> String {
        normalize_times(&text.replace(&self.root().display().to_string(), "$TMP"))
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

fn show_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter().map(|arg| arg.as_ref().to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// The fixed text that stands for any `YYYY-MM-DDTHH:MM:SSZ` time.
pub const TIME: &str = "<time.............>Z";

/// Replaces every RFC 3339 UTC time (seconds precision) with [`TIME`].
pub fn normalize_times(text: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let matches = bytes.len() - i >= SHAPE.len()
            && SHAPE.iter().zip(&bytes[i..]).all(|(shape, byte)| match shape {
                b'd' => byte.is_ascii_digit(),
                other => other == byte,
            });
        if matches {
            out.push_str(TIME);
            i += SHAPE.len();
        } else {
            let c = text[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Whether `text` is an RFC 3339 UTC time as the JSON documents give it.
pub fn is_rfc3339_utc(text: &str) -> bool {
    normalize_times(text) == TIME
}

/// The file mode bits (permissions only).
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|err| panic!("{}: {err}", path.display())).permissions().mode() & 0o777
}

impl TestEnv {
    /// Runs the binary, killing it and failing the test when it takes longer than
    /// `limit` (for commands such as `watch` and `wait` that could hang).
    pub fn run_within<I, S>(&self, limit: std::time::Duration, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let shown = show_args(&args);
        let child = self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start addons");
        let pid = child.id();
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = send.send(child.wait_with_output());
        });
        match receive.recv_timeout(limit) {
            Ok(output) => Run::from_output(output.expect("run addons")),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                panic!("addons {shown} did not finish within {limit:?}");
            }
        }
    }
}
