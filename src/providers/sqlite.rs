//! The `sqlite` provider: a SQLite database file under the data directory, handed out
//! as `DATABASE_URL=sqlite:////abs/path`: `sqlite:///` and then the absolute path, the
//! form that SQLAlchemy, dj-database-url, sqlx and Sequelize all read as that path (they
//! read `sqlite:///abs/path` as the relative path `abs/path`, or differ on it).

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use std::sync::Arc;

use serde::Deserialize;

use super::{Configured, Environment, Provider, ProviderConfig, ProviderError, ProviderInfo, Readiness};
use crate::addon::Resource;
use crate::config::Section;

/// Registry entry for `sqlite`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "sqlite",
    summary: "a SQLite database file under the data directory",
    vars: &["DATABASE_URL"],
    params: &[],
    check_params: |_| Ok(()),
    example: None,
    configure,
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
}

/// `sqlite:///` followed by the absolute path (which starts with `/` itself). Addons made
/// before this form was chosen keep the `sqlite:///abs/path` they were handed.
fn database_url(path: &std::path::Path) -> String {
    format!("sqlite:///{}", path.display())
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
        for suffix in ["", "-wal", "-shm", "-journal"] {
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
}
