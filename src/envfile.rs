//! Writing an app's env file: atomically (temp file, fsync, rename), mode 0600, and
//! serialised between processes, so it always holds one whole version of the vars.
//! Every writer goes through [`sync`], which keeps one app's failure to that app.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Settings;
use crate::store::Store;

/// How long a writer waits for another one to let go of an env file's lock. A write
/// takes milliseconds; a lock held longer is stuck, and only its app waits for it.
/// `ADDONS_ENV_LOCK_WAIT_MS` overrides it (for tests).
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

fn lock_wait() -> Duration {
    std::env::var("ADDONS_ENV_LOCK_WAIT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(LOCK_WAIT, Duration::from_millis)
}

/// Which apps' env files to bring up to date.
#[derive(Debug, Clone, Copy)]
pub enum Apps<'a> {
    /// Every app with an `env_file` in the config.
    All,
    /// Only these (those without an `env_file` are skipped).
    These(&'a [String]),
}

/// One app whose env file could not be written. The app's vars are committed in the
/// state all the same; the file is retried by every tick until a write succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFileFailure {
    pub app: String,
    pub path: PathBuf,
    pub why: String,
}

impl std::fmt::Display for EnvFileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "app {}: env file {} can't be written: {}; retried by every tick",
            self.app,
            self.path.display(),
            self.why
        )
    }
}

/// The one door to env files: rewrites the env file of each chosen app whose vars
/// changed since it was last written. One app's failure is that app's alone: it is
/// recorded in the state (cleared by the next write that succeeds) and returned, and
/// the other apps go on. Errs only when the state file itself fails. A wait for a
/// lock gives up after [`LOCK_WAIT`], or at once when `stop` is set.
pub fn sync(
    store: &mut Store,
    settings: &Settings,
    apps: Apps<'_>,
    stop: &AtomicBool,
) -> anyhow::Result<Vec<EnvFileFailure>> {
    let mut failures = Vec::new();
    for (app, app_settings) in &settings.apps {
        let Some(path) = &app_settings.env_file else { continue };
        if matches!(apps, Apps::These(chosen) if !chosen.contains(app)) || store.env_file_behind(app)?.is_none() {
            continue;
        }
        match write_locked(store, app, path, stop)? {
            Ok(()) => {}
            Err(why) => {
                store.record_env_file_failure(app, &why)?;
                failures.push(EnvFileFailure { app: app.clone(), path: path.clone(), why });
            }
        }
    }
    Ok(failures)
}

/// The recorded env-file failures of the configured apps (of `app` alone, when given).
pub fn recorded_failures(store: &Store, settings: &Settings, app: Option<&str>) -> anyhow::Result<Vec<EnvFileFailure>> {
    let mut failures = Vec::new();
    for (name, why) in store.env_file_failures()? {
        let path = settings.apps.get(&name).and_then(|a| a.env_file.clone());
        if let Some(path) = path.filter(|_| app.is_none_or(|app| app == name)) {
            failures.push(EnvFileFailure { app: name, path, why });
        }
    }
    Ok(failures)
}

/// Writes one app's env file under its lock. The outer error is the state file's;
/// the inner one says why this app's file could not be written.
fn write_locked(store: &mut Store, app: &str, path: &Path, stop: &AtomicBool) -> anyhow::Result<Result<(), String>> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let _lock = match prepare(dir, path).and_then(|()| lock(&sibling(path, ".lock"), stop)) {
        Ok(lock) => lock,
        Err(why) => return Ok(Err(why)),
    };
    remove_stale_temps(dir, path);
    // Read under the lock, so a slower writer can't put back an older version.
    let (vars, version) = store.config_vars_at_version(app)?;
    let text = match crate::dotenv::render(&vars) {
        Ok(text) => text,
        Err(err) => return Ok(Err(format!("{err:#}"))),
    };
    if let Err(err) = write_atomically(path, text.as_bytes()) {
        return Ok(Err(format!("writing it: {}", err.root_cause())));
    }
    store.mark_env_file_written(app, version)?;
    Ok(Ok(()))
}

/// Makes the env file's directory (0700) when missing, and refuses a path that is a directory.
fn prepare(dir: &Path, path: &Path) -> Result<(), String> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|err| format!("creating its directory {}: {err}", dir.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err("it is a directory; point env_file at a file".into()),
        _ => Ok(()),
    }
}

/// Takes the env file's lock: opened without following a symlink, and waited for at
/// most [`LOCK_WAIT`] (less when `stop` is set). Released when the file is dropped.
fn lock(lock_path: &Path, stop: &AtomicBool) -> Result<File, String> {
    let shown = lock_path.display();
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(lock_path)
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ELOOP) => format!("its lock file {shown} is a symlink, which addons does not follow; remove it"),
            _ => format!("opening its lock file {shown}: {err}"),
        })?;
    let (started, wait) = (Instant::now(), lock_wait());
    loop {
        // SAFETY: flock on a file descriptor we own; released when `file` is dropped.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(file);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != ErrorKind::WouldBlock {
            return Err(format!("locking {shown}: {err}"));
        }
        if stop.load(Ordering::SeqCst) {
            return Err(format!("interrupted while waiting for its lock {shown}"));
        }
        if started.elapsed() >= wait {
            return Err(format!(
                "its lock {shown} has been held by another process for more than {}s; find what holds it (fuser {shown})",
                wait.as_secs_f32()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes a whole file under a temporary name and renames it into place, mode 0600.
/// The temp file is created afresh, never through a symlink; the rename replaces
/// whatever is at `path` (a symlink included) without following it.
pub fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let temp = sibling(path, &format!(".tmp.{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)?;
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
