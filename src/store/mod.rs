//! The SQLite state file: opening it safely (pragmas, permissions, refusal of files
//! that are not ours), migrations, and transactions. Queries live in the submodules.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::Failure;

mod addons;
pub mod backend;
mod location;
pub mod postgres;
mod schema;
mod steps;
mod vars;

pub use addons::NewAddon;
pub use steps::{Apply, AttemptError, Outcome, FAILED_ATTEMPT};
pub use backend::{ConfigVar, EventRecord};
pub use location::{PostgresLocation, StateLocation, DEFAULT_SCHEMA};

/// Opens a PostgreSQL state.
pub(crate) fn open_postgres(location: &PostgresLocation) -> Result<Box<dyn backend::Backend>, backend::StoreError> {
    postgres::open(location)
}

/// How long a write waits for another process's transaction before giving up (exit 4).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open state file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Milliseconds since the Unix epoch: the unit of every time in the state file.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn refuse(path: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    Failure::Store(format!("state file {}: {why}", path.display())).into()
}

impl Store {
    /// Opens the state file, creating it (0600, in a 0700 directory) when missing,
    /// and runs any pending migrations. Refuses, without modifying it, a file that is
    /// not an addons state file, is damaged, or comes from a newer version.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        if prepare_file(path)? {
            create_fresh(path)?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|err| refuse(path, format!("can't open it: {err}")))?;
        conn.busy_timeout(busy_timeout()).map_err(|err| refuse(path, err))?;
        let mut store = Store { conn, path: path.to_path_buf() };
        store.check_identity()?;
        restrict_mode(path)?;
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens a private in-memory state, for unit tests.
    pub fn open_in_memory() -> anyhow::Result<Store> {
        let conn = Connection::open_in_memory()?;
        let mut store = Store { conn, path: PathBuf::from(":memory:") };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// A second connection to the same file (for worker threads). It skips the checks
    /// `open` made, because they read the file through a descriptor of their own, and
    /// closing any descriptor of a file drops every POSIX lock the process holds on it,
    /// SQLite's included: another process could then checkpoint and delete the WAL
    /// under this one's open connections and its commits would be lost
    /// (sqlite.org/howtocorrupt.html, 2.2).
    pub fn reopen(&self) -> anyhow::Result<Store> {
        let path = &self.path;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|err| refuse(path, format!("can't open it: {err}")))?;
        conn.busy_timeout(busy_timeout()).map_err(|err| refuse(path, err))?;
        let store = Store { conn, path: path.clone() };
        store.configure()?;
        Ok(store)
    }

    /// Opens an existing state file read-only, skipping the checks and migrations of
    /// `open`: for shell completion, which must be quick and must never create or
    /// change a state file. `None` when there is no file or it can't be opened; the
    /// queries on a file that is not ours then fail, and completion offers nothing.
    pub fn peek(path: &Path) -> Option<Store> {
        if !path.is_file() {
            return None;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .ok()?;
        conn.busy_timeout(Duration::from_millis(200)).ok()?;
        Some(Store { conn, path: path.to_path_buf() })
    }

    /// Where the state file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> anyhow::Result<i64> {
        Ok(self.conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
    }

    /// Starts a write transaction that takes the write lock at once.
    pub(crate) fn write(&mut self) -> anyhow::Result<Transaction<'_>> {
        let path = self.path.clone();
        self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|err| locked_or(&path, err))
    }

    /// The raw connection, for tests that look under the hood.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn check_identity(&self) -> anyhow::Result<()> {
        let path = &self.path;
        let read = |pragma: &str| -> anyhow::Result<i64> {
            self.conn.pragma_query_value(None, pragma, |row| row.get(0)).map_err(|err| unusable(path, err))
        };
        let application_id = read("application_id")?;
        let version = read("user_version")?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(|err| unusable(path, err))?;
        if application_id != schema::APPLICATION_ID && !(application_id == 0 && tables == 0) {
            return Err(refuse(
                path,
                "this is a SQLite database of some other program, not an addons state file; pass another --state path",
            ));
        }
        let latest = schema::MIGRATIONS.len() as i64;
        if version > latest {
            return Err(refuse(
                path,
                format!(
                    "written by a newer addons (schema {version}, this binary knows up to {latest}); upgrade addons to use it"
                ),
            ));
        }
        Ok(())
    }

    fn configure(&self) -> anyhow::Result<()> {
        let path = &self.path;
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|err| unusable(path, err))?;
        if mode != "wal" && mode != "memory" {
            return Err(refuse(path, format!("can't switch it to WAL mode (got {mode})")));
        }
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(|err| unusable(path, err))?;
        Ok(())
    }

    fn migrate(&mut self) -> anyhow::Result<()> {
        for (index, sql) in schema::MIGRATIONS.iter().enumerate() {
            let target = index as i64 + 1;
            if self.schema_version()? >= target {
                continue;
            }
            let path = self.path.clone();
            let tx = self.write()?;
            // Another process may have migrated while we waited for the lock.
            let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
            if version < target {
                tx.execute_batch(sql).map_err(|err| refuse(&path, format!("migration {target} failed: {err}")))?;
                tx.pragma_update(None, "user_version", target)?;
                tx.pragma_update(None, "application_id", schema::APPLICATION_ID)?;
            }
            tx.commit().map_err(|err| locked_or(&path, err))?;
        }
        Ok(())
    }
}

/// Creates a fully initialised state file under a temporary name and links it
/// into place, so no other process ever sees a half-made file. Losing the race to
/// another process that creates it first is fine.
fn create_fresh(path: &Path) -> anyhow::Result<()> {
    let temp = path.with_file_name(format!(
        ".{}.{}.new",
        path.file_name().map_or("state.db".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temp);
    let result = (|| -> anyhow::Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|err| refuse(path, format!("can't create it: {err}")))?;
        // The mode passed to open() is masked by the umask; set it outright.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|err| refuse(path, format!("can't set its mode to 0600: {err}")))?;
        let conn = Connection::open(&temp).map_err(|err| refuse(path, format!("can't create it: {err}")))?;
        let mut store = Store { conn, path: temp.clone() };
        store.configure()?;
        store.migrate()?;
        drop(store);
        match std::fs::hard_link(&temp, path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(err) => Err(refuse(path, format!("can't create it: {err}"))),
        }
    })();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", temp.display()));
    }
    result
}

fn busy_timeout() -> Duration {
    std::env::var("ADDONS_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(BUSY_TIMEOUT, Duration::from_millis)
}

/// Makes sure the file can be opened without SQLite creating or rewriting
/// something that is not ours. Returns whether the file is missing (its
/// directory is then made, 0700).
fn prepare_file(path: &Path) -> anyhow::Result<bool> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(refuse(path, "is a directory; pass a file path with --state")),
        // A device or pipe (/dev/null, a FIFO) reads as empty or blocks; it is not ours to remove.
        Ok(meta) if !meta.is_file() => {
            Err(refuse(path, "is not a regular file (a device, pipe or socket); pass a file path with --state"))
        }
        Ok(meta) => {
            if meta.len() == 0 {
                return Err(refuse(
                    path,
                    "is empty (0 bytes), not an addons state file; remove it or pass another --state path",
                ));
            }
            let mut header = [0u8; 16];
            let mut file = std::fs::File::open(path).map_err(|err| refuse(path, format!("can't read it: {err}")))?;
            let read = file.read(&mut header).map_err(|err| refuse(path, format!("can't read it: {err}")))?;
            if read < 16 || &header != b"SQLite format 3\0" {
                return Err(refuse(path, "is not a SQLite database; pass another --state path"));
            }
            if meta.permissions().mode() & 0o200 == 0 {
                return Err(refuse(path, "is read-only; make it writable (chmod 600) to use it"));
            }
            Ok(false)
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                if !dir.exists() {
                    DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                        .map_err(|err| refuse(path, format!("can't create its directory: {err}")))?;
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                        .map_err(|err| refuse(path, format!("can't restrict its directory to 0700: {err}")))?;
                }
            }
            Ok(true)
        }
        Err(err) => Err(refuse(path, format!("can't read it: {err}"))),
    }
}

/// Tightens the mode of an existing state file to 0600: it holds secrets. Runs only
/// once the file is known to be ours, so a refused file keeps its mode.
fn restrict_mode(path: &Path) -> anyhow::Result<()> {
    let mode =
        std::fs::metadata(path).map_err(|err| refuse(path, format!("can't read it: {err}")))?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|err| refuse(path, format!("can't restrict its mode to 0600: {err}")))?;
    }
    Ok(())
}

/// Maps a SQLite error on a state file to exit 4 when the file itself is the problem.
fn unusable(path: &Path, err: rusqlite::Error) -> anyhow::Error {
    use rusqlite::ErrorCode::*;
    match err.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => locked_or(path, err),
        Some(DatabaseCorrupt | NotADatabase) => refuse(
            path,
            "is damaged (SQLite reports it corrupt); restore it from a backup or pass another --state path",
        ),
        Some(ReadOnly | CannotOpen | PermissionDenied | DiskFull | SystemIoFailure) => {
            refuse(path, format!("can't be written: {err}"))
        }
        _ => refuse(path, err),
    }
}

/// A lock timeout becomes exit 4 with advice; other errors pass through `unusable`.
pub(crate) fn locked_or(path: &Path, err: rusqlite::Error) -> anyhow::Error {
    use rusqlite::ErrorCode::*;
    match err.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => refuse(
            path,
            format!(
                "locked by another process for more than {}s; try again when it has finished",
                busy_timeout().as_secs_f32()
            ),
        ),
        _ => unusable(path, err),
    }
}

/// Classifies any SQLite error from a query on the state file.
pub(crate) fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> anyhow::Error + '_ {
    move |err| match err.sqlite_error_code() {
        Some(_) => unusable(path, err),
        None => anyhow::Error::new(err).context(format!("reading state file {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_file_0600_in_dir_0700_and_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::MIGRATIONS.len() as i64);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        drop(store);
        Store::open(&path).unwrap();
    }

    #[test]
    fn refuses_foreign_and_damaged_files_without_touching_them() {
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("text", b"hello, I am not a database at all".to_vec()),
            ("truncated", b"SQLite format 3\0\x10\x00".to_vec()),
        ];
        for (name, bytes) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let err = Store::open(&path).err().unwrap();
            assert_eq!(crate::error::exit_code_of(&err), 4, "{name}: {err:#}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
        }
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let before = std::fs::read(&foreign).unwrap();
        let err = Store::open(&foreign).err().unwrap();
        assert!(format!("{err:#}").contains("some other program"));
        assert_eq!(std::fs::read(&foreign).unwrap(), before);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(Store::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = Store::open(&path).err().unwrap();
        assert_eq!(crate::error::exit_code_of(&err), 4);
        assert!(format!("{err:#}").contains("newer addons"), "{err:#}");
    }

    #[test]
    fn a_dropped_write_transaction_rolls_back() {
        let mut store = Store::open_in_memory().unwrap();
        {
            let tx = store.write().unwrap();
            tx.execute("INSERT INTO apps (name) VALUES ('gone')", []).unwrap();
        }
        let count: i64 = store.conn().query_row("SELECT count(*) FROM apps", [], |row| row.get(0)).unwrap();
        assert_eq!(count, 0);
    }
}
