//! Wake-ups for a state file: a file-change watch (inotify on Linux, through `notify`)
//! on the file's directory. Every commit writes the file or, in WAL mode, its `-wal`
//! file, so any process's write wakes a sleeping `watch` within milliseconds, and an
//! idle one costs no CPU. The watcher's own writes wake it too: it only looks again.

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TrySendError};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::refuse;
use crate::store::backend::{left_until, StoreError, Wakeups, Woken, STOP_CHECK};

/// A watch on the state file's directory, for the writes to the file itself and its WAL.
pub struct FileWakeups {
    /// Kept alive for as long as the watch should run.
    _watcher: RecommendedWatcher,
    /// Holds at most one wake-up: a burst of writes (one commit writes many pages)
    /// becomes one.
    changed: Receiver<()>,
}

/// Starts watching the state file at `path` (its directory, not recursively).
pub fn watch(path: &Path) -> Result<FileWakeups, StoreError> {
    let file = path.file_name().map(OsString::from).unwrap_or_default();
    let names = [file.clone(), with_suffix(&file, "-wal"), with_suffix(&file, "-journal")];
    let (tell, changed) = mpsc::sync_channel(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Opens and reads by other processes are not changes; an error of the watch
        // wakes the sleeper, which then looks again.
        let wakes = match event {
            Ok(event) => {
                matches!(event.kind, EventKind::Modify(_) | EventKind::Create(_))
                    && event
                        .paths
                        .iter()
                        .any(|changed| changed.file_name().is_some_and(|name| names.iter().any(|n| n == name)))
            }
            Err(_) => true,
        };
        if wakes {
            // Full: a wake-up is already waiting, nothing is lost. Disconnected: the
            // sleeper is gone, and this watcher goes with it.
            let _: Result<(), TrySendError<()>> = tell.try_send(());
        }
    })
    .map_err(|err| refuse(path, format!("can't watch it for changes: {err}")))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|err| refuse(path, format!("can't watch its directory for changes: {err}")))?;
    Ok(FileWakeups { _watcher: watcher, changed })
}

fn with_suffix(name: &OsString, suffix: &str) -> OsString {
    let mut name = name.clone();
    name.push(suffix);
    name
}

impl Wakeups for FileWakeups {
    fn wait(&mut self, until: i64, stop: &AtomicBool) -> Result<Woken, StoreError> {
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(Woken::Stopped);
            }
            let Some(left) = left_until(until) else { return Ok(Woken::Due) };
            match self.changed.recv_timeout(left.min(STOP_CHECK)) {
                Ok(()) => return Ok(Woken::Changed),
                Err(RecvTimeoutError::Timeout) => {}
                // The watch ended (it can't, while `_watcher` lives): sleep out the time.
                Err(RecvTimeoutError::Disconnected) => {
                    return crate::store::backend::Sleep.wait(until, stop);
                }
            }
        }
    }
}
