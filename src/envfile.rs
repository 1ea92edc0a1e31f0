//! Writing an app's env file: atomically (temp file, fsync, rename), mode 0600, and
//! serialised between processes, so it always holds one whole version of the vars.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Settings;
use crate::store::Store;

/// Rewrites the env file of every configured app whose vars changed since it was last written.
pub fn sync(store: &mut Store, settings: &Settings) -> anyhow::Result<()> {
    for (app, app_settings) in &settings.apps {
        if let Some(path) = &app_settings.env_file {
            if store.env_file_behind(app)?.is_some() {
                write_locked(store, app, path)?;
            }
        }
    }
    Ok(())
}

fn write_locked(store: &mut Store, app: &str, path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the directory of env file {}", path.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let lock_path = sibling(path, ".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .with_context(|| format!("opening lock file {}", lock_path.display()))?;
    // SAFETY: flock on a file descriptor we own; released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("locking {}", lock_path.display()));
    }
    remove_stale_temps(dir, path);
    // Read under the lock, so a slower writer can't put back an older version.
    let (vars, version) = store.config_vars_at_version(app)?;
    write_atomically(path, crate::dotenv::render(&vars)?.as_bytes())?;
    store.mark_env_file_written(app, version)?;
    Ok(())
}

/// Writes a whole file under a temporary name and renames it into place, mode 0600.
pub fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let temp = sibling(path, &format!(".tmp.{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&temp)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        let half = contents.len() / 2;
        file.write_all(&contents[..half])?;
        crate::failpoint!("env-file-half-written");
        file.write_all(&contents[half..])?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.with_context(|| format!("writing env file {}", path.display()))
}

/// Removes the temp files of writers killed mid-write (they hold part of the vars).
/// Called under the lock, when no other writer is mid-write, so every one is stale.
fn remove_stale_temps(dir: &Path, path: &Path) {
    let Some(prefix) = sibling(path, ".tmp.").file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_is_0600_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        write_atomically(&path, b"A=1\n").unwrap();
        write_atomically(&path, b"A=2\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"A=2\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
