//! The SQLite state file: opening it safely (pragmas, permissions, refusal of files
//! that are not ours), migrations, and the one place a SQLite error becomes a
//! [`StoreError`]. The statements live in `txn`.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::backend::{Backend, BackendKind, Conflict, FileChange, Fix, StoreError, Txn, Unfit, Wakeups};

mod copy;
mod rows;
mod schema;
mod txn;
mod wakeups;

pub use schema::{APPLICATION_ID, MIGRATIONS};

#[cfg(test)]
thread_local! {
    /// `PRAGMA synchronous` (1 NORMAL, 2 FULL) as the last write transaction on this
    /// thread began, read from its connection: how the tests see which writes are durable.
    pub(crate) static LAST_WRITE_SYNCHRONOUS: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
    /// How many times a connection on this thread synced its WAL after a commit.
    pub(crate) static WAL_SYNCS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How long a write waits for another process's transaction before giving up (exit 4).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open state file: one connection.
pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
    /// The connection's `synchronous` level now: set before each write transaction
    /// (it can't change inside one) when that write wants another.
    synchronous: Synchronous,
    /// The file `path` named when the connection opened it (`None`: in memory).
    file: Option<FileId>,
}

/// Which file a path names: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId { device: meta.dev(), inode: meta.ino() }
    }
}

/// SQLite's `PRAGMA synchronous` levels a write runs at. In WAL mode, `Full` syncs the
/// WAL at every commit, so a power loss keeps it; `Normal` syncs only at checkpoints,
/// so a power loss may drop the last commits (never corrupting the file). A `Full`
/// commit also makes every commit before it durable: the WAL is written in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synchronous {
    Normal,
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "PRAGMA synchronous = NORMAL",
            Synchronous::Full => "PRAGMA synchronous = FULL",
        }
    }

    /// The level of a write of this kind. With the `failpoints` feature,
    /// `ADDONS_SQLITE_SYNCHRONOUS=normal|full` puts every write at one level, so that
    /// `bench/run` measures what durability costs with one binary.
    fn of(durable: bool) -> Synchronous {
        match Synchronous::forced() {
            Some(level) => level,
            None if durable => Synchronous::Full,
            None => Synchronous::Normal,
        }
    }

    /// The one level every write is put at, by `ADDONS_SQLITE_SYNCHRONOUS` (with the
    /// `failpoints` feature); a sync after a commit is then left out too.
    fn forced() -> Option<Synchronous> {
        #[cfg(feature = "failpoints")]
        match std::env::var("ADDONS_SQLITE_SYNCHRONOUS").as_deref() {
            Ok("normal") => return Some(Synchronous::Normal),
            Ok("full") => return Some(Synchronous::Full),
            _ => {}
        }
        None
    }
}

fn refuse(path: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Unusable(format!("state file {}: {why}", path.display()))
}

/// What is at `path` is not a state this program can use; `fix` says what would do.
fn unfit(path: &Path, what: &str, fix: Fix) -> StoreError {
    StoreError::Unfit(Unfit { path: path.to_path_buf(), what: what.to_string(), fix })
}

const READ_WRITE: OpenFlags =
    OpenFlags::SQLITE_OPEN_READ_WRITE.union(OpenFlags::SQLITE_OPEN_NO_MUTEX).union(OpenFlags::SQLITE_OPEN_URI);

/// Opens the state file, creating it (0600, in a 0700 directory) when missing, and
/// runs any pending migrations. Refuses, without modifying it, a file that is not an
/// addons state file, is damaged, or comes from a newer version.
pub fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
    if prepare_file(path)? {
        create_fresh(path)?;
    }
    let mut backend = connect(path)?;
    backend.check_identity()?;
    restrict_mode(path)?;
    backend.configure()?;
    backend.migrate()?;
    Ok(backend)
}

/// Opens a private in-memory state, for unit tests.
pub fn open_in_memory() -> Result<SqliteBackend, StoreError> {
    let path = PathBuf::from(":memory:");
    let conn = Connection::open_in_memory().map_err(|err| store_error(&path, err, None))?;
    let mut backend = SqliteBackend::new(conn, path);
    backend.configure()?;
    backend.migrate()?;
    Ok(backend)
}

/// Opens an existing state file read-only, skipping the checks and migrations of
/// `open`: for shell completion, which must be quick and must never create or change
/// a state file. `None` when there is no file or it can't be opened; the queries on a
/// file that is not ours then fail, and completion offers nothing.
pub fn peek(path: &Path) -> Option<SqliteBackend> {
    if !path.is_file() {
        return None;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).ok()?;
    conn.busy_timeout(Duration::from_millis(200)).ok()?;
    Some(SqliteBackend::new(conn, path.to_path_buf()))
}

/// A connection with the busy timeout set, and nothing checked yet.
fn connect(path: &Path) -> Result<SqliteBackend, StoreError> {
    keep_freed_memory();
    let conn =
        Connection::open_with_flags(path, READ_WRITE).map_err(|err| refuse(path, format!("can't open it: {err}")))?;
    conn.busy_timeout(busy_timeout()).map_err(|err| refuse(path, err))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(SqliteBackend::new(conn, path.to_path_buf()))
}

/// Room for every statement a tick runs, so none is prepared twice.
const STATEMENT_CACHE: usize = 64;

/// SQLite allocates and frees a savepoint journal and cursor space for every step a
/// tick commits. When those blocks sit at the top of the heap, glibc hands them back
/// to the kernel at each free (its trim threshold starts at 128 KiB) and faults them
/// in again at the next step: measured, a third of a tick's time. Keeping up to
/// 16 MiB of freed memory in the process stops that.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only sets an allocator parameter; it is thread-safe in glibc.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
        });
    }
}

impl Backend for SqliteBackend {
    fn write(&mut self) -> Result<Box<dyn Txn + '_>, StoreError> {
        Ok(Box::new(self.begin_write(Synchronous::of(true))?))
    }

    fn write_redoable(&mut self) -> Result<Box<dyn Txn + '_>, StoreError> {
        Ok(Box::new(self.begin_write(Synchronous::of(false))?))
    }

    /// Syncs the WAL, which holds every commit since the last checkpoint (a checkpoint
    /// syncs the file itself first), as a `FULL` commit syncs it.
    fn sync(&mut self) -> Result<(), StoreError> {
        if self.file.is_none() || Synchronous::forced().is_some() {
            return Ok(());
        }
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let synced = match std::fs::File::open(&wal) {
            Ok(file) => file.sync_data(),
            // No WAL: the last connection to close checkpointed it into the file.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => Err(err),
        };
        synced.map_err(|err| refuse(&self.path, format!("can't sync its WAL: {err}")))?;
        #[cfg(test)]
        WAL_SYNCS.set(WAL_SYNCS.get() + 1);
        Ok(())
    }

    fn read(&mut self) -> Result<Box<dyn Txn + '_>, StoreError> {
        Ok(Box::new(self.begin(TransactionBehavior::Deferred)?))
    }

    /// A second connection to the same file (for worker threads). It skips the checks
    /// `open` made, because they read the file through a descriptor of their own, and
    /// closing any descriptor of a file drops every POSIX lock the process holds on it,
    /// SQLite's included: another process could then checkpoint and delete the WAL
    /// under this one's open connections and its commits would be lost
    /// (sqlite.org/howtocorrupt.html, 2.2).
    fn reopen(&self) -> Result<Box<dyn Backend>, StoreError> {
        let backend = connect(&self.path)?;
        backend.configure()?;
        Ok(Box::new(backend))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    fn schema_version(&mut self) -> Result<i64, StoreError> {
        self.pragma("user_version")
    }

    /// A watch of the file's directory, or looking every few seconds when the system
    /// allows no more watches; an in-memory state has no other writers.
    fn wakeups(&self) -> Result<Box<dyn Wakeups>, StoreError> {
        if self.path == Path::new(":memory:") {
            return Ok(Box::new(super::backend::Sleep));
        }
        Ok(match wakeups::watch(&self.path) {
            Ok(watch) => Box::new(watch),
            Err(_) => Box::new(wakeups::Polling),
        })
    }

    /// Compares the file the path names now with the one opened: one stat, cheap
    /// enough for every wake-up of a `watch`. A path that can't be looked at for
    /// another reason says nothing: the next statement reports what is wrong.
    fn file_change(&self) -> Option<FileChange> {
        let opened = self.file?;
        let path = self.path.clone();
        match std::fs::metadata(&self.path) {
            Ok(meta) if FileId::of(&meta) == opened => None,
            Ok(_) => Some(FileChange::Replaced { path }),
            Err(err) if err.kind() == ErrorKind::NotFound => Some(FileChange::Removed { path }),
            Err(_) => None,
        }
    }

    /// A state file keeps the clocks of every host that wrote it: rows a clock ahead
    /// of this host's wrote are found (a read through the due index), then moved.
    fn pull_back_times(&mut self) -> Result<usize, StoreError> {
        let now = crate::clock::host_ms();
        let ahead = {
            let read = self.begin(TransactionBehavior::Deferred)?;
            let ahead = read.times_ahead(now)?;
            read.finish()?;
            ahead
        };
        if !ahead {
            return Ok(0);
        }
        let write = self.begin_write(Synchronous::of(true))?;
        let moved = write.pull_back_times(crate::clock::host_ms())?;
        write.finish()?;
        Ok(moved)
    }

    fn empty_beside(&mut self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|err| store_error(&self.path, err, None))
    }
}

impl SqliteBackend {
    /// Wraps a connection just opened to the file at `path`, noting which file that is.
    fn new(conn: Connection, path: PathBuf) -> SqliteBackend {
        let file = std::fs::metadata(&path).ok().map(|meta| FileId::of(&meta));
        SqliteBackend { conn, path, synchronous: Synchronous::Full, file }
    }

    /// IMMEDIATE takes the write lock at once (waiting up to the busy timeout), so a
    /// write transaction never fails halfway for want of it; DEFERRED reads a snapshot.
    fn begin(&mut self, behavior: TransactionBehavior) -> Result<txn::SqliteTxn<'_>, StoreError> {
        let tx = self.conn.transaction_with_behavior(behavior).map_err(|err| store_error(&self.path, err, None))?;
        Ok(txn::SqliteTxn::new(tx, &self.path))
    }

    /// A write transaction whose commit syncs as `level` says.
    fn begin_write(&mut self, level: Synchronous) -> Result<txn::SqliteTxn<'_>, StoreError> {
        if self.synchronous != level {
            self.conn.execute_batch(level.pragma()).map_err(|err| store_error(&self.path, err, None))?;
            self.synchronous = level;
        }
        #[cfg(test)]
        LAST_WRITE_SYNCHRONOUS.set(self.pragma("synchronous").ok());
        self.begin(TransactionBehavior::Immediate)
    }

    /// The raw connection, for tests that look under the hood.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn pragma(&self, name: &str) -> Result<i64, StoreError> {
        self.conn.pragma_query_value(None, name, |row| row.get(0)).map_err(|err| store_error(&self.path, err, None))
    }

    fn check_identity(&self) -> Result<(), StoreError> {
        let path = &self.path;
        let application_id = self.pragma("application_id")?;
        let version = self.pragma("user_version")?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(|err| store_error(path, err, None))?;
        if application_id != APPLICATION_ID && !(application_id == 0 && tables == 0) {
            return Err(unfit(
                path,
                "this is a SQLite database of some other program, not an addons state file",
                Fix::Another,
            ));
        }
        let latest = MIGRATIONS.len() as i64;
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

    fn configure(&self) -> Result<(), StoreError> {
        let path = &self.path;
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|err| store_error(path, err, None))?;
        if mode != "wal" && mode != "memory" {
            return Err(refuse(path, format!("can't switch it to WAL mode (got {mode})")));
        }
        self.conn
            .execute_batch(&format!("{}; PRAGMA foreign_keys = ON;", self.synchronous.pragma()))
            .map_err(|err| store_error(path, err, None))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let target = index as i64 + 1;
            if self.pragma("user_version")? >= target {
                continue;
            }
            let path = self.path.clone();
            let fail = |err| store_error(&path, err, None);
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(fail)?;
            // Another process may have migrated while we waited for the lock.
            let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(fail)?;
            if version < target {
                tx.execute_batch(sql).map_err(|err| refuse(&path, format!("migration {target} failed: {err}")))?;
                // Other connections read the schema again, a table definition rewritten by
                // hand (migration 15) too.
                let cookie: i64 = tx.pragma_query_value(None, "schema_version", |row| row.get(0)).map_err(fail)?;
                tx.pragma_update(None, "schema_version", cookie + 1).map_err(fail)?;
                tx.pragma_update(None, "user_version", target).map_err(fail)?;
                tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(fail)?;
            }
            tx.commit().map_err(fail)?;
        }
        Ok(())
    }
}

/// Creates a fully initialised state file under a temporary name and links it into
/// place, so no other process ever sees a half-made file. Losing the race to another
/// process that creates it first is fine.
fn create_fresh(path: &Path) -> Result<(), StoreError> {
    let temp = path.with_file_name(format!(
        ".{}.{}.new",
        path.file_name().map_or("state.db".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temp);
    let result = (|| -> Result<(), StoreError> {
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
        let mut backend = SqliteBackend::new(conn, temp.clone());
        backend.configure()?;
        backend.migrate()?;
        drop(backend);
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

pub(crate) fn busy_timeout() -> Duration {
    std::env::var("ADDONS_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(BUSY_TIMEOUT, Duration::from_millis)
}

/// Makes sure the file can be opened without SQLite creating or rewriting something
/// that is not ours. Returns whether the file is missing (its directory is then
/// made, 0700).
fn prepare_file(path: &Path) -> Result<bool, StoreError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(unfit(path, "is a directory", Fix::AFile)),
        // A device or pipe (/dev/null, a FIFO) reads as empty or blocks; it is not ours to remove.
        Ok(meta) if !meta.is_file() => Err(unfit(path, "is not a regular file (a device, pipe or socket)", Fix::AFile)),
        Ok(meta) => {
            if meta.len() == 0 {
                return Err(unfit(path, "is empty (0 bytes), not an addons state file", Fix::RemoveOrAnother));
            }
            let mut header = [0u8; 16];
            let mut file = std::fs::File::open(path).map_err(|err| refuse(path, format!("can't read it: {err}")))?;
            let read = file.read(&mut header).map_err(|err| refuse(path, format!("can't read it: {err}")))?;
            if read < 16 || &header != b"SQLite format 3\0" {
                return Err(unfit(path, "is not a SQLite database", Fix::Another));
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
fn restrict_mode(path: &Path) -> Result<(), StoreError> {
    let mode =
        std::fs::metadata(path).map_err(|err| refuse(path, format!("can't read it: {err}")))?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|err| refuse(path, format!("can't restrict its mode to 0600: {err}")))?;
    }
    Ok(())
}

/// The one place a SQLite error becomes a [`StoreError`]: a lock held too long, a
/// damaged or unwritable file, or (when the statement could break one) the unique
/// rule named by `conflict`.
pub(super) fn store_error(path: &Path, err: rusqlite::Error, conflict: Option<Conflict>) -> StoreError {
    use rusqlite::ErrorCode::*;
    match err.sqlite_error_code() {
        Some(ConstraintViolation) if conflict.is_some() => StoreError::Conflict(conflict.unwrap_or(Conflict::LiveName)),
        Some(DatabaseBusy | DatabaseLocked) => refuse(
            path,
            format!(
                "locked by another process for more than {}s; try again when it has finished",
                busy_timeout().as_secs_f32()
            ),
        ),
        Some(DatabaseCorrupt | NotADatabase) => {
            unfit(path, "is damaged (SQLite reports it corrupt)", Fix::RestoreOrAnother)
        }
        Some(ReadOnly | CannotOpen | PermissionDenied | DiskFull | SystemIoFailure) => {
            refuse(path, format!("can't be written: {err}"))
        }
        Some(_) => refuse(path, err),
        // Not SQLite's own: a row that does not decode (damaged by hand).
        None => refuse(path, format!("holds a row this addons can't read ({err}); restore it from a backup")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_file_0600_in_dir_0700_and_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        let mut backend = open(&path).unwrap();
        assert_eq!(backend.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        drop(backend);
        open(&path).unwrap();
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
            let err = open(&path).err().unwrap();
            assert!(matches!(err, StoreError::Unfit(_)), "{name}: {err}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
        }
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let before = std::fs::read(&foreign).unwrap();
        let err = open(&foreign).err().unwrap();
        assert!(err.to_string().contains("some other program"));
        assert_eq!(std::fs::read(&foreign).unwrap(), before);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = anyhow::Error::from(open(&path).err().unwrap());
        assert_eq!(crate::error::exit_of(&err), crate::error::Exit::StateUnusable);
        assert!(format!("{err:#}").contains("newer addons"), "{err:#}");
    }

    /// `list APP` stays as fast at 100,000 addons as at 100: its count of hidden
    /// addons reads the app's rows through the app index, not every row.
    #[test]
    fn the_hidden_count_of_one_app_uses_the_app_index() {
        let backend = open_in_memory().unwrap();
        let plan: Vec<String> = backend
            .conn()
            .prepare(&format!("EXPLAIN QUERY PLAN {}", txn::HIDDEN_IN_APP))
            .unwrap()
            .query_map(["myapp"], |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(plan.iter().any(|step| step.contains("USING INDEX addons_app")), "{plan:?}");
    }

    /// A new addon `id` of `provider` in app myapp (its var prefixed with its id), claimed
    /// by "provision" for `lease`.
    fn claimed_addon(id: &str, provider: &str, lease: Duration) -> crate::store::NewAddon {
        crate::store::NewAddon {
            id: id.into(),
            name: format!("n{id}"),
            provider: provider.into(),
            app: "myapp".into(),
            prefix: Some(format!("P{id}")),
            params: Default::default(),
            seed: crate::addon::new_seed(),
            vars: vec![format!("P{id}_SECRET_KEY")],
            deadline_at: i64::MAX,
            claim: "provision".into(),
            lease,
            labels: Default::default(),
            expires_at: None,
            source_id: None,
            backup_schedule: None,
            server: None,
        }
    }

    /// A power loss may drop only the commit of a tick's step results: every other
    /// write (the creation before `begin_provision`, the claim before a provider call,
    /// a deprovision or a rotation a tick acts on) is synced at its commit, on the
    /// first connection and on a worker's alike.
    #[test]
    fn writes_that_something_acts_on_are_synced_at_commit() {
        use crate::store::{Apply, Store};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state.db")).unwrap();
        let synchronous = || LAST_WRITE_SYNCHRONOUS.get();
        let (full, normal) = (Some(2), Some(1));
        let lease = Duration::from_secs(60);
        let addon = store.insert_addon(&claimed_addon("00000000000000ab", "secret", lease)).unwrap();
        assert_eq!(synchronous(), full, "the creation");
        store.release_claim(&addon.id, "provision").unwrap();
        let mut worker = store.reopen().unwrap();
        let claimed = worker.claim_due("tick", i64::MAX, lease, 16, None).unwrap();
        assert_eq!((claimed.len(), synchronous()), (1, full), "a worker's claim");
        let retry = Apply::Retry { due_at: 0, message: "waiting".into(), error: None };
        worker.finish_steps("tick", vec![(claimed[0].clone(), retry)]).unwrap();
        assert_eq!(synchronous(), normal, "a tick's step results");
        store.claim_due("tick", i64::MAX, lease, 16, None).unwrap();
        assert_eq!(synchronous(), full, "a claim after step results");
        store.deprovision(&addon.id).unwrap();
        assert_eq!(synchronous(), full, "a deprovision");
    }

    /// A tick's claim is synced, before its steps run, only when one of them acts outside
    /// the state: claims of secret addons are not, alone or committed with the results
    /// of the batch before; any other provider's are, whichever of the two made them.
    #[test]
    fn a_claim_is_synced_when_a_step_it_hands_out_acts_outside_the_state() {
        use crate::store::{Apply, ClaimAsk, Store};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state.db")).unwrap();
        let lease = Duration::from_secs(60);
        let mut add = |id: &str, provider: &str| {
            let addon = store.insert_addon(&claimed_addon(id, provider, lease)).unwrap();
            store.release_claim(&addon.id, "provision").unwrap();
        };
        add("0a", "secret");
        add("0b", "secret");
        add("0c", "postgres");
        let only = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
        let ask = |only| ClaimAsk {
            due_by: i64::MAX,
            lease,
            limit: 16,
            only: Some(only),
            acts_outside: crate::providers::acts_outside,
        };
        let syncs = || WAL_SYNCS.get();
        let (normal, before) = (Some(1), syncs());
        let secrets = only(&["0a"]);
        let claimed = store.claim("tick", &ask(&secrets)).unwrap();
        assert_eq!((claimed.len(), LAST_WRITE_SYNCHRONOUS.get(), syncs()), (1, normal, before), "secrets alone");
        let retry = Apply::Retry { due_at: i64::MAX, message: "later".into(), error: None };
        let next = only(&["0b"]);
        let (done, claimed) =
            store.finish_and_claim("tick", vec![(claimed[0].clone(), retry.clone())], &ask(&next)).unwrap();
        assert_eq!((done.len(), claimed.len(), syncs()), (1, 1, before), "results and secrets");
        let outside = only(&["0c"]);
        let (_, claimed) = store.finish_and_claim("tick", vec![(claimed[0].clone(), retry)], &ask(&outside)).unwrap();
        assert_eq!((claimed.len(), syncs()), (1, before + 1), "results and a postgres addon");
        store.release_claim(&claimed[0].id, "tick").unwrap();
        let claimed = store.claim("tick", &ask(&outside)).unwrap();
        assert_eq!((claimed.len(), syncs()), (1, before + 2), "a postgres addon alone");
    }

    /// On a state file, what a clock ahead of this host's wrote (its `updated_at` to
    /// come) is moved back by that lead: a task due at once is due now, a revocation
    /// keeps its wait; an expiry, and rows this host's clock wrote, stay as they are.
    /// Migration 9 gives each attachment the generation its app's vars hold, read off how
    /// the rows said it before: an attached row's own, the one before for a row being
    /// rotated, none for a row being attached or gone.
    #[test]
    fn attachments_learn_the_generation_their_vars_hold() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for migration in &MIGRATIONS[..8] {
            conn.execute_batch(migration).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO apps (name) VALUES ('web'), ('w1'), ('w2'), ('w3'), ('w4'), ('w5'); \
             INSERT INTO addons (id, name, provider, app, params, seed, state, message, vars, deadline_at, \
               created_at, updated_at) VALUES ('a', 'a', 'postgres', 'web', '{}', x'00', 'ready', '', '[]', 0, 0, 0); \
             INSERT INTO attachments (addon_id, slot, app, state, generation, created_at, updated_at) VALUES \
               ('a', 1, 'w1', 'attaching', 0, 0, 0), ('a', 2, 'w2', 'attaching', 3, 0, 0), \
               ('a', 3, 'w3', 'attached', 2, 0, 0), ('a', 4, 'w4', 'detaching', 1, 0, 0), \
               ('a', 5, 'w5', 'detached', 4, 0, 0);",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[8]).unwrap();
        let held: Vec<Option<u32>> = conn
            .prepare("SELECT vars_generation FROM attachments ORDER BY slot")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(held, [None, Some(2), Some(2), None, None]);
    }

    /// SQLite checks an IN list of three or more (in a CHECK, or in a partial index's
    /// condition) through a temporary table it builds each time: the statements of a
    /// step build none, and the rewritten checks still refuse what they refused.
    #[test]
    fn writing_a_step_builds_no_temporary_table_and_the_checks_still_hold() {
        let dir = tempfile::tempdir().unwrap();
        let backend = open(&dir.path().join("state.db")).unwrap();
        let writes = crate::store::tables::Writes::new(rows::mark);
        let statements = [
            &writes.update_addon.sql,
            &writes.insert_addon.sql,
            &writes.put_attachment.sql,
            &writes.insert_hook_run.sql,
        ];
        for sql in statements {
            let mut explain = backend.conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
            let unbound = vec![rusqlite::types::Null; explain.parameter_count()];
            let opcodes: Vec<String> = explain
                .query_map(rusqlite::params_from_iter(unbound), |row| row.get(1))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(!opcodes.iter().any(|op| op == "OpenEphemeral"), "a temporary table in {sql}");
        }
        let insert = "INSERT INTO addons (id, name, provider, app, params, seed, state, message, vars, deadline_at, \
                      created_at, updated_at, cleanup) VALUES ('a', 'a', 'secret', 'web', '{}', x'00', ?1, '', '[]', 0, 0, 0, ?2)";
        for (state, cleanup) in [("bogus", "none"), ("ready", "bogus")] {
            let err = backend.conn.execute(insert, [state, cleanup]).unwrap_err();
            assert!(err.to_string().contains("CHECK constraint failed"), "{err}");
        }
        backend.conn.execute(insert, ["ready", "none"]).unwrap();
        let taken = insert.replace("'a', 'a'", "'b', 'a'");
        let err = backend.conn.execute(&taken, ["provisioned", "none"]).unwrap_err();
        assert!(err.to_string().contains("UNIQUE constraint failed"), "a second live addon named a: {err}");
        backend.conn.execute(&taken, ["deprovisioned", "pending"]).unwrap();
    }

    #[test]
    fn counted_hook_failures_learn_the_vars_they_ran_with() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for migration in &MIGRATIONS[..9] {
            conn.execute_batch(migration).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO apps (name, vars_version, hook_version, hook_attempts, hook_due_at) VALUES \
               ('failing', 3, 1, 2, 99), ('fine', 3, 3, 0, NULL);",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[9]).unwrap();
        let failed: Vec<Option<i64>> = conn
            .prepare("SELECT hook_failed_version FROM apps ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(failed, [Some(3), None]);
    }

    #[test]
    fn times_a_clock_ahead_wrote_are_moved_back_by_its_lead() {
        let mut backend = open_in_memory().unwrap();
        let now = crate::clock::host_ms();
        let (day, hour) = (86_400_000, 3_600_000);
        let (ahead, later) = (now + day, now + 2 * hour);
        backend
            .conn()
            .execute_batch(&format!(
                "INSERT INTO addons (id, name, provider, app, params, seed, state, message, vars, deadline_at, \
                   created_at, updated_at, due_at, revoke_at, expires_at) VALUES \
                 ('due', 'due', 'secret', 'web', '{{}}', x'00', 'waiting_for_provision', '', '[]', 0, {ahead}, {ahead}, {ahead}, NULL, NULL), \
                 ('revoke', 'revoke', 'secret', 'web', '{{}}', x'00', 'ready', '', '[]', 0, {ahead}, {ahead}, {ahead} + {hour}, {ahead} + {hour}, NULL), \
                 ('expiry', 'expiry', 'secret', 'web', '{{}}', x'00', 'ready', '', '[]', 0, {ahead}, {ahead}, {later}, NULL, {later}), \
                 ('mine', 'mine', 'secret', 'web', '{{}}', x'00', 'waiting_for_provision', '', '[]', 0, {now}, {now}, {later}, NULL, NULL);"
            ))
            .unwrap();
        assert_eq!(backend.pull_back_times().unwrap(), 3);
        let rows: Vec<(String, i64, Option<i64>, i64)> = backend
            .conn()
            .prepare("SELECT id, due_at, revoke_at, updated_at FROM addons ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let close = |at: i64, to: i64| (at - to).abs() < 5_000;
        let [due, expiry, mine, revoke] = &rows[..] else { panic!("{rows:?}") };
        assert!(close(due.1, now) && close(due.3, now), "{due:?}");
        assert_eq!(expiry.1, later, "{expiry:?}");
        assert_eq!((mine.1, mine.3), (later, now), "{mine:?}");
        assert!(close(revoke.1, now + hour) && close(revoke.2.unwrap(), now + hour), "{revoke:?}");
        assert_eq!(backend.pull_back_times().unwrap(), 0, "moved once");
    }

    #[test]
    fn a_dropped_write_transaction_rolls_back() {
        let mut backend = open_in_memory().unwrap();
        {
            let mut tx = backend.write().unwrap();
            tx.ensure_app("gone").unwrap();
        }
        let count: i64 = backend.conn().query_row("SELECT count(*) FROM apps", [], |row| row.get(0)).unwrap();
        assert_eq!(count, 0);
    }
}
