//! Backups of a sqlite addon with SQLite's online backup API, both ways: into a new file
//! (other sessions may go on using the database), and back into the addon's database,
//! whose pages are all replaced in one write transaction of its own: a restore killed
//! half-way leaves its journal, which the next opening rolls back.

use std::path::Path;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{io_error, Sqlite};
use crate::addon::Resource;
use crate::credential::Credential;
use crate::providers::{Backer, ProviderError};

/// Copies every page of `from` into `to`, `pages` a step, `step` run after each but the last.
fn copy_pages(from: &Connection, to: &mut Connection, pages: i32, mut step: impl FnMut()) -> rusqlite::Result<()> {
    let backup = Backup::new(from, to)?;
    loop {
        let result = backup.step(pages)?;
        match result {
            StepResult::Done => return Ok(()),
            StepResult::More => step(),
            StepResult::Busy | StepResult::Locked => std::thread::sleep(std::time::Duration::from_millis(20)),
            _ => {}
        }
    }
}

/// How many pages one step of a backup or restore copies (a restore holds the database's
/// write lock throughout; a backup lets writers in between its steps).
const STEP_PAGES: i32 = 64;

impl Backer for Sqlite {
    fn backup_suffix(&self) -> &'static str {
        "sqlite"
    }

    /// Into `file`, made new with mode 0600, then put in rollback-journal mode so it is
    /// one file, and synced.
    fn backup(&self, addon: Resource<'_>, file: &Path) -> Result<String, ProviderError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path(addon);
        let failed = |what: &str, at: &Path, err: rusqlite::Error| {
            ProviderError::Permanent(format!("{what} {}: {err}", at.display()))
        };
        let source = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|err| failed("can't open", &path, err))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
            .map_err(|err| io_error("can't create", file, err))?;
        let mut target = Connection::open(file).map_err(|err| failed("can't open", file, err))?;
        let mut first = true;
        copy_pages(&source, &mut target, STEP_PAGES, || {
            if std::mem::take(&mut first) {
                crate::failpoint!("backup-started");
            }
        })
        .map_err(|err| failed("can't back up", &path, err))?;
        target.pragma_update(None, "journal_mode", "DELETE").map_err(|err| failed("can't finish", file, err))?;
        drop(target);
        std::fs::File::open(file).and_then(|f| f.sync_all()).map_err(|err| io_error("can't sync", file, err))?;
        Ok(format!("backed up {} with SQLite's online backup", path.display()))
    }

    /// Every page of the addon's database replaced by the backup's in one transaction
    /// on it; sessions that have it open see the old data until it commits.
    fn restore(&self, addon: Resource<'_>, _login: Credential, file: &Path) -> Result<String, ProviderError> {
        let path = self.path(addon);
        let failed = |what: &str, at: &Path, err: rusqlite::Error| {
            ProviderError::Permanent(format!("{what} {}: {err}", at.display()))
        };
        if !path.exists() {
            return Err(ProviderError::Permanent(format!(
                "{} is gone; there is nothing to restore into",
                path.display()
            )));
        }
        let backup = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|err| failed("can't open the backup", file, err))?;
        let mut target = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|err| failed("can't open", &path, err))?;
        target.busy_timeout(std::time::Duration::from_secs(30)).map_err(|err| failed("can't open", &path, err))?;
        let mut first = true;
        copy_pages(&backup, &mut target, STEP_PAGES, || {
            if std::mem::take(&mut first) {
                crate::failpoint!("restore-started");
            }
        })
        .map_err(|err| ProviderError::Transient(format!("can't restore into {}: {err}", path.display())))?;
        Ok(format!("restored {} with SQLite's online backup", path.display()))
    }
}
