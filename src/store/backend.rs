//! The seam between the lifecycle logic and where the state is kept: a `Backend`
//! (a SQLite file, a PostgreSQL schema) hands out transactions, and a `Txn` reads and
//! writes one row or one list at a time. Every SQL statement lives behind these
//! traits; every rule about what a state change does lives above them, in `Store`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use super::records::{HookRun, VarOwner};
use super::tables::{Row, Table};
pub use crate::addon::ConfigVar;
use crate::addon::{Addon, Glance};
use crate::attachment::{Attachment, AttachmentState};
use crate::backup::Backup;
use crate::machine::State;
use crate::selector::Requirement;

/// The columns a [`Glance`] is read from (`tables::GLANCE`), `moving` worked out here.
pub(crate) fn glance_sql() -> &'static str {
    static GLANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    GLANCE.get_or_init(|| {
        let columns = super::tables::GLANCE.iter().take_while(|column| **column != "moving");
        let columns: Vec<&str> = columns.copied().collect();
        format!(
            "{}, CASE WHEN due_at IS NOT NULL AND {} THEN 1 ELSE 0 END AS moving",
            columns.join(", "),
            has_task_sql()
        )
    })
}

/// Whether an addon has work left, built once from `State`: a state with a task, a
/// ready addon with a rotation's switch or revocation still to do, or an attachment
/// being made or revoked or with old generations to revoke (as
/// `Addon::has_pending_work` says). A ready addon's `due_at` may be only its expiry,
/// which is not work left, so `pending_count` and `moving_glances` of every backend
/// leave such an addon out.
pub(crate) fn has_task_sql() -> &'static str {
    static HAS_TASK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HAS_TASK.get_or_init(|| {
        let idle: Vec<String> = State::ALL
            .into_iter()
            .filter(|state| state.task().is_none())
            .map(|state| format!("'{}'", state.as_str()))
            .collect();
        let busy: Vec<String> = AttachmentState::ALL
            .into_iter()
            .filter(|state| state.has_task())
            .map(|state| format!("'{}'", state.as_str()))
            .collect();
        format!(
            "(state NOT IN ({}) OR vars_generation < generation OR revoke_from IS NOT NULL \
             OR EXISTS (SELECT 1 FROM attachments t WHERE t.addon_id = addons.id \
             AND (t.state IN ({}) OR t.revoke_from IS NOT NULL)))",
            idle.join(", "),
            busy.join(", ")
        )
    })
}

/// Which kind of state a backend keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

/// An open state: a file, or a schema on a server.
pub trait Backend: Send {
    /// A write transaction, durable once committed (a power loss does not undo it:
    /// a provider call, an env file or a user may act on it next). It holds the right
    /// to write from its start, so what it reads stays true until it commits (SQLite:
    /// `BEGIN IMMEDIATE`; PostgreSQL: rows locked `FOR NO KEY UPDATE` as they are read).
    /// Waiting too long for it is [`StoreError::Unusable`] ("locked by another process
    /// for more than 10s").
    fn write(&mut self) -> Result<Box<dyn Txn + '_>, StoreError>;
    /// A write transaction whose commit a power loss may undo: one that nothing outside
    /// the state acts on before a durable commit follows it, so losing it only means
    /// doing its work again (a tick's batch of step results: the next claim, durable,
    /// comes before any provider call). SQLite: `synchronous = NORMAL` for it, where
    /// [`Backend::write`] is `FULL`. A backend whose every commit is durable gives a
    /// plain write.
    fn write_redoable(&mut self) -> Result<Box<dyn Txn + '_>, StoreError> {
        self.write()
    }
    /// Makes every commit of this connection so far survive a power loss, as a commit of
    /// [`Backend::write`] would have: for a [`Backend::write_redoable`] commit found to
    /// need it after all. A backend whose every commit is durable has nothing to do.
    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// A read-only snapshot; writing through it is a bug.
    fn read(&mut self) -> Result<Box<dyn Txn + '_>, StoreError>;
    /// A second connection to the same state, for a worker thread. It skips the checks
    /// and migrations the first open made.
    fn reopen(&self) -> Result<Box<dyn Backend>, StoreError>;
    /// Where the state is, for messages: a path, or a URL without its password.
    fn describe(&self) -> String;
    fn kind(&self) -> BackendKind;
    /// How many migrations the state has had.
    fn schema_version(&mut self) -> Result<i64, StoreError>;
    /// Whether the state was retired, when opening it read that already (a PostgreSQL
    /// state reads it in the same round trip as its checks); `None`: ask with a read.
    fn retired_when_opened(&mut self) -> Option<Option<Retired>> {
        None
    }
    /// A way for a sleeping `watch`/`wait` to learn at once that another process wrote
    /// (SQLite: a file-change watch; PostgreSQL: `LISTEN`). Made before the first look
    /// at the state, so nothing written after that look goes unseen. A backend that
    /// can't tell only sleeps ([`Sleep`]): the engine's long recheck still finds work.
    fn wakeups(&self) -> Result<Box<dyn Wakeups>, StoreError> {
        Ok(Box::new(Sleep))
    }
    /// Tells the other processes' [`Wakeups`] of writes whose telling was held back
    /// (PostgreSQL tells at most a few times a second, at commit); nothing when none was.
    fn settle(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// What became of the state file since this backend opened it: `None` while its
    /// path still names the file it has open (and for a state that is no file).
    fn file_change(&self) -> Option<FileChange> {
        None
    }
    /// Moves back the times that a clock ahead of this host's worked out, so that work
    /// is not put off by another clock's lead (see [`crate::store::Store::pull_back_times`]);
    /// how many addons it moved. Nothing to do where every time comes from one clock
    /// (a PostgreSQL server's).
    fn pull_back_times(&mut self) -> Result<usize, StoreError> {
        Ok(0)
    }
    /// Empties what this connection keeps beside the state file's path into the file
    /// it has open, before it closes for good after [`FileChange::Replaced`]. SQLite:
    /// its WAL, checkpointed and truncated. SQLite leaves the WAL at the path when the
    /// file it belongs to was renamed over, and a connection to the new file would
    /// read the old file's pages from it.
    fn empty_beside(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// What became of a state file under a process that has it open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Another file was renamed over its path (a restored backup, a copy moved into
    /// place): what is written to the file still open goes nowhere anyone looks.
    Replaced { path: std::path::PathBuf },
    /// Nothing is at its path any more.
    Removed { path: std::path::PathBuf },
}

/// What ended a [`Wakeups::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// Something may have changed the state (perhaps this process itself): look again.
    Changed,
    /// `until` came.
    Due,
    /// The stop flag was set (SIGINT/SIGTERM).
    Stopped,
}

/// Sleeps until the state may have changed, without polling it.
pub trait Wakeups: Send {
    /// Waits until `until` (ms since the epoch, this host's clock), a change of the
    /// state, or `stop` (seen within [`STOP_CHECK`]), whichever comes first. Changes
    /// since the last wait count: a burst of them wakes it once or a few times.
    fn wait(&mut self, until: i64, stop: &AtomicBool) -> Result<Woken, StoreError>;

    /// Stops watching while this process does work of its own (a tick), whose writes
    /// would only wake it. Nothing, where watching costs nothing while not waiting.
    fn pause(&mut self) {}

    /// Watches again after [`Wakeups::pause`], before the look that follows the work:
    /// what others wrote meanwhile is in that look, or (a commit not visible yet) wakes
    /// one of the waits soon after, as a change does.
    fn resume(&mut self) {}
}

/// How long a wait goes without looking at the stop flag, so a signal ends a sleeping
/// `watch` promptly.
pub const STOP_CHECK: Duration = Duration::from_millis(250);

/// The wait of a backend that can't tell when the state changes: the time or the stop.
pub struct Sleep;

impl Wakeups for Sleep {
    fn wait(&mut self, until: i64, stop: &AtomicBool) -> Result<Woken, StoreError> {
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(Woken::Stopped);
            }
            let Some(left) = left_until(until) else { return Ok(Woken::Due) };
            std::thread::sleep(left.min(STOP_CHECK));
        }
    }
}

/// The time left until `until` (ms since the epoch), or `None` when it came.
pub fn left_until(until: i64) -> Option<Duration> {
    let left = until.saturating_sub(crate::clock::host_ms());
    (left > 0).then(|| Duration::from_millis(left as u64))
}

/// Which addons a streamed listing reads ([`Txn::scan_addons`]), in `list`'s order: one
/// app's by creation, or every app's by app, then creation.
#[derive(Debug, Clone, Copy)]
pub struct Scan<'a> {
    /// Only this app's addons.
    pub app: Option<&'a str>,
    /// Deprovisioned addons and addons in error too.
    pub all: bool,
    /// Only addons whose labels meet every one of these.
    pub labels: &'a [Requirement],
    /// Only live addons whose expiry is at or before this time.
    pub expired_by: Option<i64>,
    /// Only addons with a backup schedule of their own.
    pub own_schedule: bool,
}

/// How many addons a scan reads at a time: what it holds in memory, whatever the
/// size of the state, and the addons whose attachments one query reads.
pub const SCAN_BATCH: usize = 512;

/// A parameter of a scan's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanParam {
    Text(String),
    Int(i64),
}

/// How a backend writes the parts of a scan's statement that differ between them.
pub struct ScanDialect {
    /// The n-th parameter, of type text or bigint (`int` true).
    pub mark: fn(n: usize, int: bool) -> String,
    /// The value of the label named by parameter `mark` (a text, NULL when unset).
    pub label: fn(mark: &str) -> String,
    /// The parameter that names a label's key.
    pub key: fn(key: &str) -> String,
    /// `a IS DISTINCT FROM b` in the backend's words.
    pub distinct: &'static str,
    /// What orders rows made in the same millisecond.
    pub made: &'static str,
}

/// The statement (and its parameters) that reads the addons a scan selects: the app,
/// the live states, the expiry and the label requirements all in its WHERE clause, so
/// the backend hands over only the rows listed.
pub fn scan_sql(scan: &Scan<'_>, dialect: &ScanDialect) -> (String, Vec<ScanParam>) {
    let mut params = Vec::new();
    let mut add = |param: ScanParam| {
        let int = matches!(param, ScanParam::Int(_));
        params.push(param);
        (dialect.mark)(params.len(), int)
    };
    let mut clauses = Vec::new();
    if let Some(app) = scan.app {
        clauses.push(format!("app = {}", add(ScanParam::Text(app.to_string()))));
    }
    if !scan.all || scan.expired_by.is_some() {
        let live: Vec<String> =
            State::ALL.into_iter().filter(|s| s.is_live()).map(|s| format!("'{}'", s.as_str())).collect();
        clauses.push(format!("state IN ({})", live.join(", ")));
    }
    if let Some(by) = scan.expired_by {
        clauses.push(format!("expires_at IS NOT NULL AND expires_at <= {}", add(ScanParam::Int(by))));
    }
    if scan.own_schedule {
        clauses.push("backup_every IS NOT NULL".to_string());
    }
    for requirement in scan.labels {
        let label = (dialect.label)(&add(ScanParam::Text((dialect.key)(requirement.key()))));
        clauses.push(match requirement {
            Requirement::Equals { value, .. } => format!("{label} = {}", add(ScanParam::Text(value.clone()))),
            Requirement::NotEquals { value, .. } => {
                format!("{label} {} {}", dialect.distinct, add(ScanParam::Text(value.clone())))
            }
            Requirement::Exists { .. } => format!("{label} IS NOT NULL"),
            Requirement::NotExists { .. } => format!("{label} IS NULL"),
        });
    }
    let filter = match clauses.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", clauses.join(" AND ")),
    };
    let order = match scan.app {
        Some(_) => format!("created_at, {}", dialect.made),
        None => format!("app, created_at, {}", dialect.made),
    };
    (format!("SELECT {} FROM addons {filter} ORDER BY {order}", super::tables::ADDONS.field_list()), params)
}

/// One transaction. Dropping it without [`Txn::commit`] rolls it back.
///
/// Times are milliseconds since the Unix epoch on the backend's clock ([`Txn::now`]).
/// `only`, where taken, limits a query to those addon ids.
pub trait Txn {
    /// The backend's clock: the host's for SQLite, the server's for PostgreSQL.
    fn now(&mut self) -> Result<i64, StoreError>;

    // Addons.
    /// The addon with this id (PostgreSQL: locked `FOR NO KEY UPDATE` in a write transaction).
    fn addon(&mut self, id: &str) -> Result<Option<Addon>, StoreError>;
    /// The addon with this display name: a live one first, else the newest.
    fn addon_by_name(&mut self, name: &str) -> Result<Option<Addon>, StoreError>;
    /// Whether a live addon has this name.
    fn live_name_taken(&mut self, name: &str) -> Result<bool, StoreError>;
    /// Distinct addon names, sorted; only live addons' when `live`.
    fn addon_names(&mut self, live: bool) -> Result<Vec<String>, StoreError>;
    /// Addons of one app (by creation) or of every app (by app, then creation);
    /// live ones only unless `all`.
    fn list_addons(&mut self, app: Option<&str>, all: bool) -> Result<Vec<Addon>, StoreError>;
    /// Reads the addons `scan` selects, in its order, [`SCAN_BATCH`] at a time, each
    /// batch with its addons' live attachments filled, and hands each batch to `visit`
    /// until it returns false: the whole state is never held at once.
    fn scan_addons(&mut self, scan: &Scan<'_>, visit: &mut dyn FnMut(Vec<Addon>) -> bool) -> Result<(), StoreError>;
    /// Glances at the addons with work left (`due_at` set and a task, as
    /// [`has_task_sql`] says: a ready addon may be due only at its expiry), by app then
    /// creation.
    fn moving_glances(&mut self) -> Result<Vec<Glance>, StoreError>;
    /// Glances at the addons of these ids (in no order; an id of none is left out).
    fn glances(&mut self, ids: &[String]) -> Result<Vec<Glance>, StoreError>;
    /// The ready addons whose last drift check began (or, never checked, whose last
    /// change was) at `before` or earlier, with when that check began: by app, then
    /// creation.
    fn due_checks(&mut self, before: i64) -> Result<Vec<(String, Option<i64>)>, StoreError>;
    /// (addons in error, deprovisioned addons with cleanup pending), of one app or all.
    fn hidden_counts(&mut self, app: Option<&str>) -> Result<(usize, usize), StoreError>;
    /// The distinct apps of these addons, sorted.
    fn apps_of(&mut self, ids: &[String]) -> Result<Vec<String>, StoreError>;
    /// Stores a new addon row, every column as given. A live addon of the same name
    /// is [`StoreError::Conflict`] with [`Conflict::LiveName`].
    fn insert_addon(&mut self, addon: &Addon) -> Result<(), StoreError>;
    /// Writes every mutable column of an existing addon (all but id, name, provider,
    /// app, prefix, params, seed, vars, created_at).
    fn update_addon(&mut self, addon: &Addon) -> Result<(), StoreError>;
    /// Writes the columns of `addon` that differ from `stored`, the row as the state
    /// holds it now (read in this transaction, or claimed and found at the same version).
    fn update_addon_from(&mut self, stored: &Addon, addon: &Addon) -> Result<(), StoreError>;
    /// Who holds the claim on an addon, and its row's version; `None` when it is gone.
    fn claim_of(&mut self, id: &str) -> Result<Option<(Option<String>, i64)>, StoreError>;
    /// Records one transition or attempt.
    fn record_event(&mut self, event: &NewEvent<'_>) -> Result<(), StoreError>;
    /// Every recorded event of an addon, oldest first.
    fn events(&mut self, addon_id: &str) -> Result<Vec<EventRecord>, StoreError>;

    // Claims. A claimed addon always has `due_at` set.
    /// Claims up to `limit` addons (ready ones too: due at their expiry) with `due_at <= due_by` whose claim is free or ran
    /// out (`claim_until < now`), oldest due first, for `token` until `now + lease`,
    /// and returns them as claimed. PostgreSQL: `FOR UPDATE SKIP LOCKED`.
    fn claim_due(
        &mut self,
        token: &str,
        due_by: i64,
        lease: Duration,
        limit: usize,
        only: Option<&[String]>,
    ) -> Result<Vec<Addon>, StoreError>;
    /// Clears the claim when `token` holds it; whether it did.
    fn release_claim(&mut self, addon_id: &str, token: &str) -> Result<bool, StoreError>;
    /// The distinct tokens of claims that have not run out.
    fn claim_holders(&mut self) -> Result<Vec<String>, StoreError>;
    /// Makes every claim of `token` run out now (`claim_until = 0`); how many.
    fn expire_claims_of(&mut self, token: &str) -> Result<usize, StoreError>;
    /// How many addons have `due_at` set and a state with a task (not `ready`, which is
    /// due only at its `expires_at`: not work left).
    fn pending_count(&mut self, only: Option<&[String]>) -> Result<usize, StoreError>;
    /// The least of each such addon's `due_at`, or `max(due_at, claim_until)` when claimed.
    fn next_due(&mut self, only: Option<&[String]>) -> Result<Option<i64>, StoreError>;

    // Apps and config vars.
    /// Makes the app known (a no-op when it is).
    fn ensure_app(&mut self, app: &str) -> Result<(), StoreError>;
    /// Whether anything ever referred to the app.
    fn app_exists(&mut self, app: &str) -> Result<bool, StoreError>;
    /// Every known app, sorted.
    fn app_names(&mut self) -> Result<Vec<String>, StoreError>;
    /// Who holds `key` on `app`, if anyone.
    fn var_owner(&mut self, app: &str, key: &str) -> Result<Option<VarOwner>, StoreError>;
    /// Reserves `key` on `app` (no value yet) for the addon. A key already there is
    /// [`StoreError::Conflict`] with [`Conflict::VarKey`].
    fn reserve_var(&mut self, app: &str, key: &str, addon_id: &str) -> Result<(), StoreError>;
    /// Gives a value to a key the addon reserved; false when it holds no such key.
    fn fill_var(&mut self, app: &str, key: &str, addon_id: &str, value: &str) -> Result<bool, StoreError>;
    /// Removes every key the addon holds; how many.
    fn release_vars(&mut self, addon_id: &str) -> Result<usize, StoreError>;
    /// Sets a var by hand (inserts or overwrites its value; the caller checked the owner).
    fn set_var(&mut self, app: &str, key: &str, value: &str) -> Result<(), StoreError>;
    /// Removes a var; whether it was there.
    fn delete_var(&mut self, app: &str, key: &str) -> Result<bool, StoreError>;
    /// The app's vars that have values, by key, with their owners' names.
    fn vars(&mut self, app: &str) -> Result<Vec<ConfigVar>, StoreError>;
    /// Counts a change of the app's vars (creating the app when unknown). PostgreSQL
    /// writes the count at commit (or at a read of `app_versions` in the transaction).
    fn bump_version(&mut self, app: &str) -> Result<(), StoreError>;
    /// The app's vars version and the version its env file was last written at.
    fn app_versions(&mut self, app: &str) -> Result<Option<AppVersions>, StoreError>;
    /// The env file now holds `version`; clears any recorded env-file error.
    fn mark_env_written(&mut self, app: &str, version: i64) -> Result<(), StoreError>;
    /// Why the app's env file could not be written, and when.
    fn record_env_error(&mut self, app: &str, why: &str, at: i64) -> Result<(), StoreError>;
    /// (app, why) of every app with an env-file error, by app.
    fn env_errors(&mut self) -> Result<Vec<(String, String)>, StoreError>;

    // on_change hooks: the columns are read and written here as they are; what a run or a
    // claim does to them is decided above the backends (`store::hooks`).
    /// The app's hook columns with the state's clock, `None` for an unknown app; in a
    /// write transaction the app's row stays locked until the end of it.
    fn hook_row(&mut self, app: &str) -> Result<Option<HookRow>, StoreError>;
    /// Writes the app's hook columns (all but `vars_version`, which only a change of
    /// its vars moves).
    fn put_hook_row(&mut self, app: &str, row: &HookRow) -> Result<(), StoreError>;
    /// Records a finished run, keeping the newest `keep` runs of the app.
    fn add_hook_run(&mut self, run: &HookRun, keep: usize) -> Result<(), StoreError>;
    /// The app's recorded runs, newest first.
    fn hook_runs(&mut self, app: &str) -> Result<Vec<HookRun>, StoreError>;
    // Attachments.
    /// Every attachment of an addon, by slot, detached ones too.
    fn attachments(&mut self, addon_id: &str) -> Result<Vec<Attachment>, StoreError>;
    /// The attachments that are not detached (to one app, or to every app), by addon and slot.
    fn live_attachments(&mut self, app: Option<&str>) -> Result<Vec<Attachment>, StoreError>;
    /// Stores an attachment, new or changed (keyed by addon and slot).
    fn put_attachment(&mut self, attachment: &Attachment) -> Result<(), StoreError>;
    /// Removes every key the addon holds on one app; how many.
    fn release_app_vars(&mut self, addon_id: &str, app: &str) -> Result<usize, StoreError>;

    /// The backups and restores of an addon (every addon's with `None`), oldest first.
    fn backups(&mut self, addon_id: Option<&str>) -> Result<Vec<Backup>, StoreError>;
    /// The backups and restores still pending, of every addon.
    fn pending_backups(&mut self) -> Result<Vec<Backup>, StoreError>;
    /// One backup or restore, by id.
    fn backup(&mut self, id: &str) -> Result<Option<Backup>, StoreError>;
    /// Writes a backup or restore, new or changed.
    fn put_backup(&mut self, backup: &Backup) -> Result<(), StoreError>;
    /// Removes a backup's row.
    fn delete_backup(&mut self, id: &str) -> Result<(), StoreError>;

    // Moving a whole state (`state copy`), table by table as [`super::tables::TABLES`] lists them.
    /// Every row of the table, in its order (`Table::order`), handed to `visit`
    /// [`SCAN_BATCH`] rows at a time, so a copy holds a batch, not the table; stops at
    /// the first error `visit` returns, and returns it.
    fn copy_rows(
        &mut self,
        table: &Table,
        visit: &mut dyn FnMut(Vec<Row>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Writes these rows (values in the table's column order) as they are.
    fn paste_rows(&mut self, table: &Table, rows: &[Row]) -> Result<(), StoreError>;
    /// How many rows the table holds.
    fn count_rows(&mut self, table: &Table) -> Result<u64, StoreError>;
    /// Keeps every other writer out of the table until this transaction ends (SQLite's
    /// write transaction already does), so a target found empty stays so.
    fn lock_table(&mut self, table: &Table) -> Result<(), StoreError>;
    // Trouble that keeps on: read and written as they are; `store::troubles` decides.
    /// Every addon with failed attempts at its current task (`attempts` > 0, an error kept).
    fn failing_addons(&mut self) -> Result<Vec<Addon>, StoreError>;
    /// Every app whose `on_change` hook failed for its current vars.
    fn failing_hooks(&mut self) -> Result<Vec<String>, StoreError>;
    /// The latest finished scheduled backup of each addon, where it failed.
    fn failing_backups(&mut self) -> Result<Vec<Backup>, StoreError>;
    /// Every recorded trouble; in a write transaction their rows stay locked to its end.
    fn troubles(&mut self) -> Result<Vec<Trouble>, StoreError>;
    /// Writes a trouble, new or changed.
    fn put_trouble(&mut self, trouble: &Trouble) -> Result<(), StoreError>;
    /// Forgets a trouble.
    fn drop_trouble(&mut self, subject: &str) -> Result<(), StoreError>;
    /// Whether `state copy` made another state the one that acts, and how.
    fn retired(&mut self) -> Result<Option<Retired>, StoreError>;
    /// Marks the state as no longer the one that acts (once; a later mark replaces it).
    fn retire(&mut self, how: &Retired) -> Result<(), StoreError>;

    /// Locks these addons' rows in sorted order before a transaction that changes
    /// several addons (a tick's batch of steps) touches any of them: every writer takes
    /// addons first, in one order, and apps last (PostgreSQL writes `bump_version` at
    /// commit), so two never wait for each other in a circle. SQLite: nothing to do (a
    /// write transaction holds the whole file).
    fn lock_addons(&mut self, addon_ids: &[String]) -> Result<(), StoreError>;

    // Transaction control.
    /// Starts a savepoint (one level: a step within a batch).
    fn savepoint(&mut self) -> Result<(), StoreError>;
    /// Keeps what was written since the savepoint.
    fn release_savepoint(&mut self) -> Result<(), StoreError>;
    /// Undoes what was written since the savepoint, and ends it.
    fn rollback_savepoint(&mut self) -> Result<(), StoreError>;
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Something that keeps failing, as `tick` last said of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    /// `addon:ID` or `hook:APP`.
    pub subject: String,
    /// When a tick first saw it failing.
    pub since: i64,
    /// When a tick last said so; `None`: not yet.
    pub warned_at: Option<i64>,
}

/// A state that `state copy` made stop acting: it can be read, never changed, and
/// nothing in it reaches a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retired {
    /// Moved to `to` (described, no password) at `at`: that state acts in its place.
    Moved { to: String, at: i64 },
    /// A read-only copy of `of`, made at `at` (`state copy --keep-source`).
    Snapshot { of: String, at: i64 },
}

impl Retired {
    /// The mark a `retired` row's columns (how, elsewhere, at) hold.
    pub fn from_columns(how: String, elsewhere: String, at: i64) -> Retired {
        match how.as_str() {
            "snapshot" => Retired::Snapshot { of: elsewhere, at },
            _ => Retired::Moved { to: elsewhere, at },
        }
    }

    /// The mark as a `retired` row's columns (how, elsewhere, at).
    pub fn columns(&self) -> (&'static str, &str, i64) {
        match self {
            Retired::Moved { to, at } => ("moved", to, *at),
            Retired::Snapshot { of, at } => ("snapshot", of, *at),
        }
    }
}

/// Why the state could not do what was asked. Nothing else comes out of a backend.
#[derive(Debug)]
pub enum StoreError {
    /// The state can't be used (locked too long, damaged, unreachable, no privilege):
    /// exit 4. The text names the state (no password) and what to do.
    Unusable(String),
    /// What is at the state's path is no state this program can use, and another state
    /// (or the file put right) is what would do: exit 4, worded by the command line.
    Unfit(Unfit),
    /// A write broke a uniqueness rule another writer won meanwhile.
    Conflict(Conflict),
    /// The server undid the transaction to end a deadlock or a serialization failure
    /// with another writer: running it again from the start may well succeed. Exit 4
    /// when it reaches `main`. The text names the state.
    Collision(String),
}

/// Which uniqueness rule a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// A live addon already has the name.
    LiveName,
    /// The app already has the var key.
    VarKey,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unusable(message) | StoreError::Collision(message) => f.write_str(message),
            StoreError::Unfit(unfit) => unfit.fmt(f),
            StoreError::Conflict(Conflict::LiveName) => f.write_str("a live addon took that name meanwhile"),
            StoreError::Conflict(Conflict::VarKey) => f.write_str("another writer took that config var meanwhile"),
        }
    }
}

/// A store error always reaches `main` as exit 4 (never as a step's or provider's
/// failure): it is deliberately not a `std::error::Error`, so `?` can't lose that.
impl From<StoreError> for anyhow::Error {
    fn from(err: StoreError) -> anyhow::Error {
        match err {
            StoreError::Unfit(unfit) => unfit.into(),
            other => crate::error::Failure::new(crate::error::Exit::StateUnusable, other.to_string()).into(),
        }
    }
}

/// A state path that holds no state this program can use: what is there, and what the
/// user could do about it. Its text says what is there; the command line adds the fix
/// in its own words (its flags), and exit 4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state file {}: {what}", path.display())]
pub struct Unfit {
    pub path: std::path::PathBuf,
    pub what: String,
    pub fix: Fix,
}

/// What would make a command work again after an [`Unfit`] state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// Use another state.
    Another,
    /// Name a file, not what is there.
    AFile,
    /// Remove what is there, or use another state.
    RemoveOrAnother,
    /// Restore the file from a backup, or use another state.
    RestoreOrAnother,
    /// Put the removed file back, or use the state where it went, and start again.
    PutBackOrFollow,
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub addon_id: &'a str,
    pub at: i64,
    /// `None` for the creation.
    pub from: Option<State>,
    pub to: State,
    pub event: &'a str,
    pub message: &'a str,
}

/// One recorded transition, for `addons log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub at: i64,
    pub from: Option<String>,
    pub to: String,
    pub event: String,
    pub message: String,
}

/// An app's change counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppVersions {
    /// Bumped by every change of the app's vars.
    pub vars: i64,
    /// The `vars` its env file was last written at.
    pub env: i64,
}

/// An app's hook columns as the state holds them, and the state's clock when they were
/// read. The rules that read and change them are `store::hooks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRow {
    /// Bumped by every change of the app's vars.
    pub vars_version: i64,
    /// The vars version the hook last succeeded for.
    pub hook_version: i64,
    /// Failed runs for the vars version `failed_version`.
    pub attempts: u32,
    /// The vars version the counted failures ran with: once the vars change again,
    /// they no longer count.
    pub failed_version: Option<i64>,
    /// When the failed hook is tried next.
    pub due_at: Option<i64>,
    /// The tick that holds the hook, and until when (it may have run out).
    pub claim: Option<String>,
    pub claim_until: Option<i64>,
    /// The state's clock as the row was read.
    pub now: i64,
}
