//! The `sqlite` provider: a SQLite database file under the data directory, handed out
//! as `DATABASE_URL=sqlite:////abs/path`: `sqlite:///` and then the absolute path, the
//! form that SQLAlchemy, dj-database-url, sqlx and Sequelize all read as that path (they
//! read `sqlite:///abs/path` as the relative path `abs/path`, or differ on it).

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use std::sync::Arc;

use serde::Deserialize;

use super::{
    Backups, Capabilities, Configured, Copier, Copies, CopyStatus, Credential, Drift, DriftKind, Environment, Provider,
    ProviderConfig, ProviderError, ProviderInfo, ReadOnly, Readiness, Verifier,
};
use crate::addon::Resource;
use crate::config::Section;

mod backup;

/// Registry entry for `sqlite`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "sqlite",
    summary: "a SQLite database file under the data directory",
    vars: &["DATABASE_URL"],
    params: &[],
    check_params: |_| Ok(()),
    example: None,
    configure,
    rotation: super::Rotates::Nothing("its database is a file guarded by its mode (0600), not a password"),
    acts_outside: true,
};

/// `[providers.sqlite]`: where the files go; beside the state file when unset.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteConfig {
    dir: Option<PathBuf>,
}

fn configure(section: Option<&Section<'_>>) -> Configured {
    let config: SqliteConfig = section.map(Section::read).transpose()?.unwrap_or_default();
    Ok(Some(Arc::new(config)))
}

impl ProviderConfig for SqliteConfig {
    fn build(&self, env: &Environment) -> Box<dyn Provider> {
        Box::new(Sqlite::new(self.dir.clone().unwrap_or_else(|| env.data_dir.join("sqlite"))))
    }
}

/// Keeps one file per addon, `<dir>/<addon id>.db`.
pub struct Sqlite {
    dir: PathBuf,
}

impl Sqlite {
    /// Files go in `dir`, made absolute: the URL handed out must name the file
    /// whatever directory the app runs in.
    pub fn new(dir: PathBuf) -> Self {
        Sqlite { dir: std::path::absolute(&dir).unwrap_or(dir) }
    }

    fn path(&self, addon: Resource<'_>) -> PathBuf {
        self.dir.join(format!("{}.db", addon.id))
    }

    /// A file beside the addon's: `<id>.db<suffix>`.
    fn beside(&self, addon: Resource<'_>, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}.db{suffix}", addon.id))
    }

    /// Opens the copy's lock file and takes its lock without waiting: `None` while a
    /// copier holds it. The lock goes with the process, so a killed copier holds none.
    fn copy_lock(&self, addon: Resource<'_>) -> Result<Option<std::fs::File>, ProviderError> {
        use std::os::fd::AsRawFd;
        let path = self.beside(addon, COPY_LOCK);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|err| io_error("can't open", &path, err))?;
        // SAFETY: flock on a descriptor this function owns; no memory is passed.
        match unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } {
            0 => Ok(Some(file)),
            _ => match std::io::Error::last_os_error() {
                err if err.kind() == ErrorKind::WouldBlock => Ok(None),
                err => Err(io_error("can't lock", &path, err)),
            },
        }
    }

    /// Copies `source`'s database into `<id>.db.part` with SQLite's online backup (other
    /// sessions may go on using the source), syncs it, then renames it into place: the
    /// final file appears whole or not at all, and its being there marks the copy done.
    fn backup(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<(), ProviderError> {
        use rusqlite::backup::{Backup, StepResult};
        let (from, part, path) = (self.path(source), self.beside(addon, PART), self.path(addon));
        let failed = |what: &str, file: &std::path::Path, err: rusqlite::Error| {
            ProviderError::Permanent(format!("{what} {}: {err}", file.display()))
        };
        let source_db = rusqlite::Connection::open_with_flags(&from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|err| failed("can't open the source", &from, err))?;
        match std::fs::remove_file(&part) {
            Err(err) if err.kind() != ErrorKind::NotFound => return Err(io_error("can't delete", &part, err)),
            _ => {}
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&part)
            .map_err(|err| io_error("can't create", &part, err))?;
        let mut target = rusqlite::Connection::open(&part).map_err(|err| failed("can't open", &part, err))?;
        {
            let backup = Backup::new(&source_db, &mut target).map_err(|err| failed("can't copy", &from, err))?;
            let mut first = true;
            loop {
                let step = backup.step(BACKUP_PAGES).map_err(|err| failed("can't copy", &from, err))?;
                if std::mem::take(&mut first) {
                    crate::failpoint!("copy-started");
                }
                match step {
                    StepResult::Done => break,
                    StepResult::Busy | StepResult::Locked => std::thread::sleep(std::time::Duration::from_millis(20)),
                    _ => {}
                }
            }
        }
        // A WAL-mode copy holds its last pages in the -wal file until checkpointed.
        target
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|err| failed("can't checkpoint", &part, err))?;
        drop(target);
        std::fs::File::open(&part)
            .and_then(|file| file.sync_all())
            .map_err(|err| io_error("can't sync", &part, err))?;
        crate::failpoint!("after-copy-before-mark");
        std::fs::rename(&part, &path).map_err(|err| io_error("can't rename", &part, err))?;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", part.display()));
        }
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|err| io_error("can't sync", &self.dir, err))
    }
}

/// The lock file a copier holds while it copies: `<id>.db.copying`.
const COPY_LOCK: &str = ".copying";
/// The copy in progress, renamed into place once whole: `<id>.db.part`.
const PART: &str = ".part";
/// How many pages one step of the online backup copies.
const BACKUP_PAGES: i32 = 1024;

/// `sqlite:///` followed by the absolute path (which starts with `/` itself). Addons made
/// before this form was chosen keep the `sqlite:///abs/path` they were handed.
fn database_url(path: &std::path::Path) -> String {
    format!("sqlite:///{}", path.display())
}

/// The vars of an app attached `--read-only`: its `DATABASE_URL` as the SQLite URI
/// `sqlite:///file:/abs/path?mode=ro&uri=true`, which SQLAlchemy and SQLite's own URI
/// filenames open read-only. Advice to the client: the file's mode lets the app write
/// (README, sqlite).
fn read_only_urls(config: Vec<(String, String)>) -> Vec<(String, String)> {
    let uri = |url: String| match url.strip_prefix("sqlite:///") {
        Some(path) if path.starts_with('/') => format!("sqlite:///file:{}?mode=ro&uri=true", uri_path(path)),
        _ => url,
    };
    config
        .into_iter()
        .map(|(key, value)| if key == "DATABASE_URL" { (key, uri(value)) } else { (key, value) })
        .collect()
}

/// A path as a SQLite URI filename's path: `%`, `?` and `#` are written as escapes.
fn uri_path(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            '%' => "%25".to_string(),
            '?' => "%3f".to_string(),
            '#' => "%23".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn io_error(what: &str, path: &std::path::Path, err: std::io::Error) -> ProviderError {
    let message = format!("{what} {}: {err}", path.display());
    match err.kind() {
        ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::TimedOut => ProviderError::Transient(message),
        _ => ProviderError::Permanent(message),
    }
}

impl Provider for Sqlite {
    fn begin_provision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|err| io_error("can't create the directory", &self.dir, err))?;
        if let Some(source) = addon.source {
            // The copier makes the file; an empty one here would look like a finished copy.
            return Ok(format!("the copy of {} waits for its copier", self.dir.join(format!("{source}.db")).display()));
        }
        let path = self.path(addon);
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
            Err(err) => return Err(io_error("can't create", &path, err)),
        }
        // An empty file is a valid empty database; make it a real one with a header.
        let conn = rusqlite::Connection::open(&path)
            .map_err(|err| ProviderError::Permanent(format!("can't open {}: {err}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|err| ProviderError::Transient(format!("can't initialise {}: {err}", path.display())))?;
        Ok(format!("created {}", path.display()))
    }

    fn provision_complete(&self, addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        let path = self.path(addon);
        let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|err| ProviderError::Permanent(format!("can't open {}: {err}", path.display())))?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0))
            .map_err(|err| ProviderError::Permanent(format!("{} is not a usable database: {err}", path.display())))?;
        Ok(Readiness::Ready)
    }

    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        Ok(vec![("DATABASE_URL".into(), database_url(&self.path(addon)))])
    }

    fn deprovision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let path = self.path(addon);
        // A copier still at work would rename its copy into place after the removal.
        let _lock = match self.dir.exists() {
            true => Some(self.copy_lock(addon)?.ok_or_else(|| {
                ProviderError::Transient(format!(
                    "a copier is still copying into {}; removing it once it stops",
                    path.display()
                ))
            })?),
            false => None,
        };
        for suffix in ["", "-wal", "-shm", "-journal", PART, ".part-wal", ".part-shm", ".part-journal", COPY_LOCK] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => return Err(io_error("can't delete", &file, err)),
            }
        }
        Ok(format!("deleted {}", path.display()))
    }

    fn health(&self) -> Result<String, ProviderError> {
        Ok(format!("built in; files in {}", self.dir.display()))
    }

    fn capabilities(&self) -> Capabilities<'_> {
        let read_only = ReadOnly::Advised(read_only_urls);
        Capabilities {
            verifier: Some(self),
            copies: Copies::By(self),
            backups: Backups::By(self),
            read_only,
            ..Capabilities::NONE
        }
    }
}

/// SQLite's online backup into a new file, renamed into place whole.
impl Copier for Sqlite {
    fn check_copy(&self, source: Resource<'_>) -> Result<(), ProviderError> {
        let path = self.path(source);
        std::fs::metadata(&path).map(drop).map_err(|err| io_error("can't find the source database", &path, err))
    }

    /// Done once the final file is there (it is only ever renamed into place whole);
    /// running while a copier holds the lock.
    fn copy_status(&self, addon: Resource<'_>, _source: Resource<'_>) -> Result<CopyStatus, ProviderError> {
        if self.path(addon).exists() {
            return Ok(CopyStatus::Done);
        }
        Ok(match self.copy_lock(addon)? {
            Some(_) => CopyStatus::Stopped,
            None => CopyStatus::Running,
        })
    }

    fn copy(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<String, ProviderError> {
        let Some(_lock) = self.copy_lock(addon)? else {
            return Ok("another copier is at work on it".into());
        };
        if self.path(addon).exists() {
            return Ok(format!("{} is already a copy", self.path(addon).display()));
        }
        self.backup(addon, source)?;
        Ok(format!("copied {} into {}", self.path(source).display(), self.path(addon).display()))
    }
}

impl Verifier for Sqlite {
    /// The file is there with mode 0600.
    fn verify(&self, addon: Resource<'_>, _credentials: &[Credential]) -> Result<Vec<Drift>, ProviderError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(addon);
        match std::fs::metadata(&path) {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                Ok(vec![Drift::resource(DriftKind::ResourceMissing, format!("{} is gone", path.display()))])
            }
            Err(err) => Err(io_error("can't look at", &path, err)),
            Ok(meta) if meta.permissions().mode() & 0o777 != 0o600 => {
                let mode = meta.permissions().mode() & 0o777;
                Ok(vec![Drift::resource(
                    DriftKind::LimitsChanged,
                    format!("{} has mode {mode:04o}, not 0600", path.display()),
                )])
            }
            Ok(_) => Ok(Vec::new()),
        }
    }

    /// Sets the mode back to 0600, making the file again (empty) when it was lost.
    fn remake_resource(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(addon);
        if !path.exists() {
            self.begin_provision(addon)?;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|err| io_error("can't set the mode of", &path, err))?;
        Ok(format!("{} is there with mode 0600", path.display()))
    }

    /// The file has no logins: `verify` finds the drift of none.
    fn remake_login(&self, _addon: Resource<'_>, _credential: Credential) -> Result<(), ProviderError> {
        Ok(())
    }
}
