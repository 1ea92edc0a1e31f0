//! The open state: one backend behind the seam, read through a snapshot and written
//! through a transaction per call; the operations on it are the `impl Store` blocks of
//! the files beside this one.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use super::backend::{Backend, BackendKind, FileChange, Fix, Retired, StoreError, Txn, Unfit, Wakeups};
use super::location::{PostgresLocation, StateLocation};
use super::postgres;
use super::refused::Refused;
use super::sqlite;

/// An open state. Reads go through a snapshot each, writes through a transaction
/// each; `&self` reads borrow the connection for the length of one call.
pub struct Store {
    pub(super) backend: RefCell<Box<dyn Backend>>,
    /// Whether `state copy` made another state the one that acts, as last read (at
    /// open, and by [`Store::look_if_retired`]): every write is refused while it is.
    retired: Option<Retired>,
    /// Whether `retired` was read at open and not asked for since: the first pass of a
    /// command needs no second read ([`Store::look_if_retired`]).
    retired_fresh: bool,
}

/// Whether a write must survive a power loss once committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// Something outside the state may act on it next ([`Backend::write`]).
    Durable,
    /// Losing it only means doing its work again ([`Backend::write_redoable`]).
    Redoable,
}

/// How many times a write that collided with another writer is tried in all.
pub(super) const COLLISION_TRIES: u32 = 5;

/// Milliseconds since the Unix epoch on this host (the unit of every time in the
/// state): what a state file keeps, and what a host's own deadlines run on. A time
/// written to a PostgreSQL state comes from [`Store::now`] or [`Store::clock`] instead.
pub fn now_ms() -> i64 {
    crate::clock::host_ms()
}

/// Opens a PostgreSQL state.
pub(crate) fn open_postgres(location: &PostgresLocation) -> Result<Box<dyn Backend>, StoreError> {
    postgres::open(location)
}

/// Stands in for a state file between closing it and opening the file that replaced
/// it; if that open fails, every use says the state is closed.
struct Closed(PathBuf);

impl Closed {
    fn refuse(&self) -> StoreError {
        StoreError::Unusable(format!("state file {}: closed after it was replaced", self.0.display()))
    }
}

impl Backend for Closed {
    fn write(&mut self) -> Result<Box<dyn Txn + '_>, StoreError> {
        Err(self.refuse())
    }

    fn read(&mut self) -> Result<Box<dyn Txn + '_>, StoreError> {
        Err(self.refuse())
    }

    fn reopen(&self) -> Result<Box<dyn Backend>, StoreError> {
        Err(self.refuse())
    }

    fn describe(&self) -> String {
        self.0.display().to_string()
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    fn schema_version(&mut self) -> Result<i64, StoreError> {
        Err(self.refuse())
    }
}

impl From<&Path> for StateLocation {
    fn from(path: &Path) -> StateLocation {
        StateLocation::File(path.to_path_buf())
    }
}

impl From<&PathBuf> for StateLocation {
    fn from(path: &PathBuf) -> StateLocation {
        StateLocation::File(path.clone())
    }
}

impl Store {
    /// Wraps an open backend.
    pub fn new(backend: Box<dyn Backend>) -> Store {
        Store { backend: RefCell::new(backend), retired: None, retired_fresh: false }
    }

    /// Reads again whether the state was retired (moved elsewhere, or made a snapshot)
    /// by a `state copy` since it was opened: a long-running command asks once a pass.
    /// The first call after open uses what the open read.
    pub fn look_if_retired(&mut self) -> anyhow::Result<()> {
        if !std::mem::take(&mut self.retired_fresh) {
            self.retired = self.read(|tx| tx.retired())?;
        }
        Ok(())
    }

    /// At open: whether the state was retired, as the backend read it while opening, or
    /// else with a read.
    fn learn_if_retired(&mut self) -> anyhow::Result<()> {
        match self.backend.get_mut().retired_when_opened() {
            Some(retired) => self.retired = retired,
            None => self.retired = self.read(|tx| tx.retired())?,
        }
        self.retired_fresh = true;
        Ok(())
    }

    /// Refuses (exit 4) to change a state another now acts in place of.
    pub fn acting(&self) -> anyhow::Result<()> {
        match &self.retired {
            Some(how) => Err(Refused::Retired { state: self.describe(), how: how.clone() }.into()),
            None => Ok(()),
        }
    }

    /// Opens a state, creating a missing file (0600, in a 0700 directory) and running
    /// pending migrations. Refuses (exit 4, nothing changed) a state that is not an
    /// addons state, is damaged, or comes from a newer version.
    pub fn open(location: impl Into<StateLocation>) -> anyhow::Result<Store> {
        let backend: Box<dyn Backend> = match location.into() {
            StateLocation::File(path) => Box::new(sqlite::open(&path)?),
            StateLocation::Postgres(location) => open_postgres(&location)?,
        };
        let mut store = Store::new(backend);
        store.learn_if_retired()?;
        Ok(store)
    }

    /// Opens a state only when it exists (the file, or the schema on its server):
    /// `None` when it does not, and nothing is made.
    pub fn open_existing(location: impl Into<StateLocation>) -> anyhow::Result<Option<Store>> {
        let backend: Box<dyn Backend> = match location.into() {
            StateLocation::File(path) if !path.exists() => return Ok(None),
            StateLocation::File(path) => Box::new(sqlite::open(&path)?),
            StateLocation::Postgres(location) => match postgres::open_existing(&location)? {
                Some(backend) => backend,
                None => return Ok(None),
            },
        };
        let mut store = Store::new(backend);
        store.learn_if_retired()?;
        Ok(Some(store))
    }

    /// Opens a private in-memory state, for unit tests.
    pub fn open_in_memory() -> anyhow::Result<Store> {
        Ok(Store::new(Box::new(sqlite::open_in_memory()?)))
    }

    /// Opens an existing state for shell completion: quick, and never creating or
    /// changing anything. `None` when there is none or it can't be opened.
    pub fn peek(location: impl Into<StateLocation>) -> Option<Store> {
        match location.into() {
            StateLocation::File(path) => Some(Store::new(Box::new(sqlite::peek(&path)?))),
            StateLocation::Postgres(location) => postgres::peek(&location).map(Store::new),
        }
    }

    /// A second connection to the same state, for a worker thread.
    pub fn reopen(&self) -> anyhow::Result<Store> {
        Ok(Store { retired: self.retired.clone(), ..Store::new(self.backend.borrow().reopen()?) })
    }

    /// Where the state is, for messages (no password).
    pub fn describe(&self) -> String {
        self.backend.borrow().describe()
    }

    /// Which kind of backend keeps the state.
    pub fn kind(&self) -> BackendKind {
        self.backend.borrow().kind()
    }

    /// Whether the state takes one write transaction at a time (a SQLite file): the
    /// workers of one process then take turns to write, rather than each wait on the
    /// file's lock in SQLite's busy handler, which sleeps.
    pub fn one_writer(&self) -> bool {
        self.kind() == BackendKind::Sqlite
    }

    /// The backend's clock (ms since the epoch): a PostgreSQL server's, shared by every
    /// host, or this host's for a file.
    pub fn now(&self) -> anyhow::Result<i64> {
        self.read(|tx| tx.now())
    }

    /// The backend's clock read now, to run forward without asking again: for work
    /// that writes times it worked out itself (a retry's due time, a hook run's).
    pub fn clock(&self) -> anyhow::Result<crate::clock::Clock> {
        Ok(crate::clock::Clock::starting_at(self.now()?))
    }

    /// The schema version of the open state.
    pub fn schema_version(&self) -> anyhow::Result<i64> {
        Ok(self.backend.borrow_mut().schema_version()?)
    }

    /// What became of the state file since it was opened (see [`Backend::file_change`]).
    pub fn file_change(&self) -> Option<FileChange> {
        self.backend.borrow().file_change()
    }

    /// Follows a state file replaced (renamed over) since it was opened to the file its
    /// path now names: empties the old file's WAL (see [`Backend::empty_beside`]) and
    /// closes this connection, then opens that file as [`Store::open`] does (checked,
    /// migrated). Whether it did. A removed file, or a new one that is no usable state,
    /// is exit 4. Close every other connection of this process to the old file first,
    /// so that none writes to that WAL again.
    pub fn follow_replaced_file(&mut self) -> anyhow::Result<bool> {
        match self.file_change() {
            None => Ok(false),
            Some(FileChange::Removed { path }) => Err(StoreError::Unfit(Unfit {
                path,
                what: "removed while this process had it open".into(),
                fix: Fix::PutBackOrFollow,
            })
            .into()),
            Some(FileChange::Replaced { path }) => {
                self.backend.get_mut().empty_beside()?;
                *self.backend.get_mut() = Box::new(Closed(path.clone()));
                *self.backend.get_mut() = Box::new(sqlite::open(&path)?);
                Ok(true)
            }
        }
    }

    /// On a state file, each time is the clock of the host that wrote it. A row that a
    /// clock ahead of this host's wrote (its `updated_at` is still to come here) has
    /// its due time and its revocations worked out on that clock: they move back by
    /// that lead, so work due when it was written is due now and a retry waits as long
    /// as it asked, instead of for the other clock's lead. An expiry, a time someone
    /// chose, stays. How many addons moved; none on PostgreSQL, whose times all come
    /// from the server.
    pub fn pull_back_times(&mut self) -> anyhow::Result<usize> {
        Ok(self.backend.get_mut().pull_back_times()?)
    }

    /// Tells sleeping watchers of this process's writes now, where telling them was
    /// held back (see [`Backend::settle`]): at the end of a tick, before it sleeps or exits.
    pub fn settle(&self) -> anyhow::Result<()> {
        Ok(self.backend.borrow_mut().settle()?)
    }

    /// A way to sleep until another process changes the state (see [`Backend::wakeups`]).
    pub fn wakeups(&self) -> anyhow::Result<Box<dyn Wakeups>> {
        Ok(self.backend.borrow().wakeups()?)
    }

    /// Runs `f` over one read snapshot.
    pub(super) fn read<T>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<T, StoreError>) -> anyhow::Result<T> {
        let mut backend = self.backend.borrow_mut();
        let mut tx = backend.read()?;
        let value = f(&mut *tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` in one write transaction, committed when `f` succeeds and rolled back
    /// when it fails; a transaction the server undid to end a deadlock with another
    /// writer ([`StoreError::Collision`]) is run again, up to [`COLLISION_TRIES`] times.
    pub(super) fn write_retrying<T>(
        &mut self,
        f: impl FnMut(&mut dyn Txn) -> Result<T, StoreError>,
    ) -> anyhow::Result<T> {
        self.write_retrying_as(Durability::Durable, f)
    }

    /// As [`Store::write_retrying`], as durable as `durability` says.
    pub(super) fn write_retrying_as<T>(
        &mut self,
        durability: Durability,
        mut f: impl FnMut(&mut dyn Txn) -> Result<T, StoreError>,
    ) -> anyhow::Result<T> {
        let value = self.write_or_undo(durability, |tx| f(tx).map(Some))?;
        Ok(value.expect("a transaction that gave a value was committed"))
    }

    /// As [`Store::write_retrying_as`], but `f` may give `None` to have its transaction
    /// rolled back instead of committed.
    pub(super) fn write_or_undo<T>(
        &mut self,
        durability: Durability,
        mut f: impl FnMut(&mut dyn Txn) -> Result<Option<T>, StoreError>,
    ) -> anyhow::Result<Option<T>> {
        self.acting()?;
        let mut tries = 1;
        loop {
            let result = (|| {
                let backend = self.backend.get_mut();
                let mut tx = match durability {
                    Durability::Durable => backend.write()?,
                    Durability::Redoable => backend.write_redoable()?,
                };
                let value = f(&mut *tx)?;
                // A transaction dropped uncommitted is rolled back.
                if value.is_some() {
                    tx.commit()?;
                }
                Ok(value)
            })();
            match result {
                Err(StoreError::Collision(_)) if tries < COLLISION_TRIES => tries += 1,
                result => return Ok(result?),
            }
        }
    }

    /// Runs `f` in one write transaction, committed when `f` succeeds and rolled back
    /// when it fails.
    pub(super) fn write<T>(&mut self, f: impl FnOnce(&mut dyn Txn) -> anyhow::Result<T>) -> anyhow::Result<T> {
        self.acting()?;
        let backend = self.backend.get_mut();
        let mut tx = backend.write()?;
        let value = f(&mut *tx)?;
        tx.commit()?;
        Ok(value)
    }
}
