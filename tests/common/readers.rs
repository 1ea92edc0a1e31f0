//! The real readers installed by `tests/readers/install` (python-dotenv, SQLAlchemy with
//! psycopg and PyMySQL, dj-database-url, pika and paho-mqtt in a venv; Node's dotenv and pg-connection-string
//! in node_modules),
//! found through `ADDONS_TEST_READERS`, so tests can check that what `addons` writes is
//! read back exactly by the programs apps really use.

use std::path::PathBuf;
use std::process::Command;

/// The installed readers.
pub struct Readers {
    dir: PathBuf,
}

/// The readers, or `None` when `ADDONS_TEST_READERS` is unset and readers are not
/// required; then it prints `NOTICE: skipping <skipping>: ...`. With
/// `ADDONS_TEST_REQUIRE_READERS=1` a missing variable fails the test instead, and so does
/// a directory where `tests/readers/install` has not run.
pub fn readers(skipping: &str) -> Option<Readers> {
    let required = std::env::var("ADDONS_TEST_REQUIRE_READERS").is_ok_and(|v| v == "1");
    let Some(dir) = std::env::var_os("ADDONS_TEST_READERS").filter(|dir| !dir.is_empty()) else {
        assert!(!required, "ADDONS_TEST_REQUIRE_READERS=1 but ADDONS_TEST_READERS is not set");
        // Straight to the process's stderr: the test harness captures `eprintln!` of a
        // passing test, and this notice is meant to be seen.
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "NOTICE: skipping {skipping}: ADDONS_TEST_READERS is not set");
        return None;
    };
    let readers = Readers { dir: PathBuf::from(dir) };
    for needed in [readers.python_path(), readers.dir.join("node_modules")] {
        assert!(needed.exists(), "{} is missing: run tests/readers/install", needed.display());
    }
    Some(readers)
}

impl Readers {
    fn python_path(&self) -> PathBuf {
        self.dir.join(".venv").join("bin").join("python")
    }

    /// `python -c <script>` in the readers' venv, with a clean environment (`HOME` set
    /// to a directory that does not exist, so an expansion of it shows).
    pub fn python(&self, script: &str) -> Command {
        let mut command = Command::new(self.python_path());
        command.arg("-c").arg(script).env_clear().env("HOME", "/nonexistent-home");
        command
    }

    /// `select_one.py`: SQLAlchemy (and, for a `postgresql://` URL, psycopg) connecting
    /// to `url` and running `SELECT 1`, with `driver` for a URL whose scheme names none.
    /// The URL goes in the environment, not on the command line `ps` shows.
    pub fn select_one(&self, url: &str, driver: &str) -> Command {
        let mut command = Command::new(self.python_path());
        command
            .arg(self.dir.join("select_one.py"))
            .arg(driver)
            .env_clear()
            .env("HOME", "/nonexistent-home")
            .env("DATABASE_URL", url);
        command
    }

    /// `mqtt_app.py`: a paho-mqtt app that publishes and consumes under the prefix of
    /// the `MQTT_URL` and `MQTT_TOPIC_PREFIX` the caller sets.
    pub fn mqtt_app(&self) -> Command {
        let mut command = Command::new(self.python_path());
        command.arg(self.dir.join("mqtt_app.py")).env_clear().env("HOME", "/nonexistent-home");
        command
    }

    /// `node -e <script>` that finds the readers' node_modules, with a clean environment.
    pub fn node(&self, script: &str) -> Command {
        let mut command = Command::new("node");
        command
            .arg("-e")
            .arg(script)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent-home")
            .env("NODE_PATH", self.dir.join("node_modules"));
        command
    }
}

/// Runs a reader; its stdout, or a panic with everything it printed.
pub fn stdout_of(mut command: Command) -> String {
    let output = command.output().unwrap_or_else(|err| panic!("can't run {command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("a reader printed UTF-8")
}
