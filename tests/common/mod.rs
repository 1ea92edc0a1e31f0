//! The test environment for tests that drive the real binary: a temp dir of its own
//! with its own state and config paths, and a clean process environment.

// Without the failpoints feature the suites that need it are left out, and some of
// what only they use goes unused.
#![allow(dead_code)]

pub mod apps;
pub mod cluster;
pub mod hosts;
pub mod mosquitto;
pub mod pgstate;
pub mod providers;
pub mod readers;
pub mod servers;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// An app's config vars: key to value.
pub type Vars = BTreeMap<String, String>;

/// Every subcommand `--help` lists (the hidden ones left out), as the command line
/// declares them: a new command is in every suite that walks them without being named.
pub fn subcommands() -> Vec<String> {
    use clap::CommandFactory as _;
    let cli = addons::cli::Cli::command();
    cli.get_subcommands()
        .filter(|command| !command.is_hide_set())
        .map(|command| command.get_name().to_string())
        .collect()
}

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_addons");

/// One isolated run of `addons`: a temp dir that is also `HOME`, a state path and a
/// config path inside it, and no inherited `ADDONS_*` (or anything else). With
/// `ADDONS_TEST_STATE_BACKEND=postgres` the state is a fresh PostgreSQL schema instead
/// (dropped at the end). A test picks its backend by its constructor: [`TestEnv::new`]
/// follows that variable, [`TestEnv::on_sqlite_file`] (for tests about the state FILE
/// itself) and [`TestEnv::on_postgres`] don't.
pub struct TestEnv {
    dir: tempfile::TempDir,
    /// Where the state file lives (`ADDONS_STATE`); its directory does not exist at first.
    /// On PostgreSQL, a path in the binary's default data directory, where no file is made.
    pub state: PathBuf,
    /// Where the config file lives (`ADDONS_CONFIG`); missing until a test writes it.
    pub config: PathBuf,
    /// The PostgreSQL schema that holds the state, when the suites run on PostgreSQL.
    pub postgres: Option<pgstate::Schema>,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// What a finished process did.
    pub fn from_output(output: Output) -> Run {
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
    /// A fresh environment with no state file and no config file, its state on the
    /// backend `ADDONS_TEST_STATE_BACKEND` names (a SQLite file unless `postgres`).
    pub fn new() -> TestEnv {
        TestEnv::on(pgstate::enabled().then(pgstate::Schema::for_state))
    }

    /// A fresh environment whose state is a SQLite file whatever
    /// `ADDONS_TEST_STATE_BACKEND` says: for the tests about the state FILE itself (its
    /// mode, damaged or foreign files, its lock, its bytes on disk, its schema history,
    /// where the sqlite provider's files go beside it).
    pub fn on_sqlite_file() -> TestEnv {
        TestEnv::on(None)
    }

    /// A fresh environment whose state is a PostgreSQL schema whatever
    /// `ADDONS_TEST_STATE_BACKEND` says: for the promises of a state shared by hosts.
    /// `None` (with a NOTICE) when no server is configured and none is required.
    pub fn on_postgres(skipping: &str) -> Option<TestEnv> {
        let admin = pgstate::server(skipping)?;
        Some(TestEnv::on(Some(pgstate::Schema::fresh(&admin))))
    }

    /// A fresh environment whose state is this PostgreSQL schema, or a file when `None`.
    fn on(postgres: Option<pgstate::Schema>) -> TestEnv {
        let dir = tempfile::Builder::new().prefix("addons-test").tempdir().expect("temp dir");
        let config = dir.path().join("config.toml");
        // With no state file, the binary's data directory (the sqlite provider's files)
        // is the default one under HOME: `state`'s directory stands for it.
        let state = match postgres {
            Some(_) => dir.path().join(".local/share/addons/state.db"),
            None => dir.path().join("state").join("state.db"),
        };
        TestEnv { dir, state, config, postgres }
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
        command.env("ADDONS_STATE", self.state_location());
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
            // The machine's own servers are not found unless a test asks for that
            // (tests/local_servers.rs): a provider is configured, or it is not.
            .env("ADDONS_DISCOVER", "0")
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

    /// Runs the binary and asserts docs/contract.md's bad-input rule: exit `code`,
    /// nothing on stdout, exactly one line on stderr. Returns that line.
    pub fn fails<I, S>(&self, code: i32, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (shown, run) = self.run_shown(args);
        assert_eq!(run.code, code, "addons {shown}: wrong exit code:\n{run}");
        assert_eq!(run.stdout, "", "addons {shown}: printed on stdout:\n{run}");
        assert!(run.stderr.ends_with('\n'), "{run}");
        // A refusal that suggests config is its line, a blank line, and the lines to
        // paste into the config file: they must be TOML as they are.
        let (line, block) = run.stderr.split_once("\n\n").unwrap_or((&run.stderr, ""));
        assert_eq!(line.trim_end().lines().count(), 1, "addons {shown}: not exactly one line on stderr:\n{run}");
        if !block.is_empty() {
            assert!(block.parse::<toml::Table>().is_ok(), "addons {shown}: the lines to paste are not TOML:\n{run}");
        }
        // Read as one line, as the old form of those lines said it.
        format!("{} {}", line.trim_end(), block.trim_end().replace('\n', " ")).trim_end().to_string()
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

    /// Runs SQL (no parameters, valid on SQLite and PostgreSQL alike) on the state, as a
    /// test that looks under the hood or sets up a situation must; every row, every value
    /// as text (SQL NULL as `None`). A statement that returns no rows gives none.
    pub fn state_sql(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        if let Some(schema) = &self.postgres {
            return schema.rows(sql);
        }
        let conn = rusqlite::Connection::open(&self.state).expect("open the state file");
        conn.busy_timeout(std::time::Duration::from_secs(10)).expect("busy timeout");
        let mut statement = conn.prepare(sql).unwrap_or_else(|err| panic!("{sql}: {err}"));
        let columns = statement.column_count();
        let rows = statement.query_map([], |row| {
            (0..columns)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => None,
                        rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
                        rusqlite::types::ValueRef::Real(x) => Some(x.to_string()),
                        rusqlite::types::ValueRef::Text(text) | rusqlite::types::ValueRef::Blob(text) => {
                            Some(String::from_utf8_lossy(text).into_owned())
                        }
                    })
                })
                .collect()
        });
        rows.and_then(Iterator::collect).unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// Makes the state a copy of a SQLite state file (a committed fixture). On PostgreSQL
    /// the copy is brought to the current schema by the binary, then its rows are loaded
    /// into this environment's fresh schema and the file removed.
    pub fn load_state_file(&self, file: &Path) {
        let dir = self.data_dir();
        std::fs::create_dir_all(&dir).expect("make the state's directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod 700");
        std::fs::copy(file, &self.state).expect("copy the state file");
        std::fs::set_permissions(&self.state, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
        let Some(schema) = &self.postgres else { return };
        let migrated = self.bare_command(["list"]).env("ADDONS_STATE", &self.state).output().expect("run addons");
        assert!(migrated.status.success(), "migrating the state file: {}", String::from_utf8_lossy(&migrated.stderr));
        // The schema, made as the binary makes it (a read-only command makes none).
        let location = addons::store::StateLocation::parse(&schema.url(), None).expect("the schema's URL");
        addons::store::Store::open(location).expect("make the state's schema");
        schema.load_sqlite(&self.state);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.state.display()));
        }
    }

    /// Runs a command with failpoint `point` armed and asserts that it really died there
    /// of SIGKILL (the binary must be built with the failpoints feature). Its pid.
    pub fn killed_at(&self, point: &str, args: &[&str]) -> u32 {
        use std::os::unix::process::ExitStatusExt as _;
        let child = self
            .command(args)
            .env("ADDONS_FAILPOINT", point)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "addons {args:?} did not die at {point} (is {BIN} built with the failpoints feature?): {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pid
    }

    /// Plain ticks until no addon has work left (30 s at most).
    pub fn settle(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.json(["tick", "--json"])["pending"] != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "still pending after 30s: {}",
                self.ok(["list", "--all"]).stdout
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Whether the state exists yet: the file, or the PostgreSQL schema.
    pub fn state_exists(&self) -> bool {
        match &self.postgres {
            Some(schema) => !schema.rows("SELECT 1 FROM pg_namespace WHERE nspname = current_schema()").is_empty(),
            None => self.state.exists(),
        }
    }

    /// How the binary names this environment's state in its lines: the file's path, or
    /// the URL without password and parameters, with its schema.
    pub fn state_shown(&self) -> String {
        match &self.postgres {
            Some(schema) => {
                let mut url = url::Url::parse(&schema.url()).expect("the schema's URL parses");
                let _ = url.set_password(None);
                url.set_query(None);
                format!("{url}?schema={}", schema.name)
            }
            None => self.state.display().to_string(),
        }
    }

    /// What `ADDONS_STATE` says: the state file's path, or the PostgreSQL URL.
    pub fn state_location(&self) -> std::ffi::OsString {
        match &self.postgres {
            Some(schema) => schema.url().into(),
            None => self.state.clone().into_os_string(),
        }
    }

    /// The bytes of the state file and of its WAL (when one exists), or every row of a
    /// PostgreSQL state, to prove a command left the state exactly as it was.
    pub fn state_bytes(&self) -> Vec<(String, Vec<u8>)> {
        if let Some(schema) = &self.postgres {
            return vec![(schema.url(), schema.dump())];
        }
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
