//! The `sqlite` provider: a SQLite database file under the data directory, handed out
//! as `DATABASE_URL=sqlite:////abs/path`: `sqlite:///` and then the absolute path, the
//! form that SQLAlchemy, dj-database-url, sqlx and Sequelize all read as that path (they
//! read `sqlite:///abs/path` as the relative path `abs/path`, or differ on it).

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use std::sync::Arc;

use serde::Deserialize;

use super::credential::repair_with;
use super::{
    Configured, Credential, Drift, DriftKind, Environment, Provider, ProviderConfig, ProviderError, ProviderInfo,
    Readiness, Repair,
};
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
    rotation: super::Rotates::Nothing("its database is a file guarded by its mode (0600), not a password"),
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

    /// Every slot is handed the same file; a new generation is refused, as there is no
    /// password to change.
    fn ensure_credential(
        &self,
        addon: Resource<'_>,
        credential: Credential,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        if credential.generation > 0 {
            return Err(ProviderError::Permanent(format!(
                "the sqlite provider has nothing to rotate: its database is a file guarded by its mode (0600) \
                 and directory, not a password; {credential} is not made"
            )));
        }
        self.get_config(addon)
    }

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

    /// Sets the mode back to 0600; a lost file is made again, empty, only with `repair_data`.
    fn repair(
        &self,
        addon: Resource<'_>,
        _credentials: &[Credential],
        drift: &[Drift],
        repair_data: bool,
    ) -> Result<Repair, ProviderError> {
        use std::os::unix::fs::PermissionsExt;
        let resource = || {
            let path = self.path(addon);
            if !path.exists() {
                self.begin_provision(addon)?;
            }
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|err| io_error("can't set the mode of", &path, err))?;
            Ok(format!("{} is there with mode 0600", path.display()))
        };
        repair_with(&addon, drift, repair_data, resource, |_| Ok(()))
    }
}
