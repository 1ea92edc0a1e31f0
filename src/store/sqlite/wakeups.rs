//! Wake-ups for a state file: a file-change watch (inotify on Linux, through `notify`)
//! on the file's directory. Every commit writes the file or, in WAL mode, its `-wal`
//! file, so any process's write wakes a sleeping `watch` within milliseconds, and an
//! idle one costs no CPU. The watcher's own writes wake it too: it only looks again.
//!
//! A write is seen before its commit is: SQLite writes the WAL, then marks the commit
//! in shared memory, which no file-change event reports. So after a change the wait
//! also wakes a few times shortly after ([`ECHOES`]), and on a writer closing the file
//! (a `provision` process ending), which comes after its commit. A file renamed over
//! the state file, or its removal, wakes it too: the watcher then follows or stops.

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TrySendError};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::store::backend::{left_until, Sleep, StoreError, Wakeups, Woken, STOP_CHECK};
use crate::store::now_ms;

/// How long after a change (ms) the wait wakes again, in case the change was a commit
/// not yet visible when the first wake-up looked.
const ECHOES: [i64; 3] = [20, 200, 1000];

/// A watch on the state file's directory, for the writes to the file itself and its WAL.
pub struct FileWakeups {
    /// Kept alive for as long as the watch should run.
    watcher: RecommendedWatcher,
    /// The directory watched, and whether it is (not while paused).
    dir: std::path::PathBuf,
    watching: bool,
    /// Holds at most one wake-up: a burst of writes (one commit writes many pages)
    /// becomes one.
    changed: Receiver<()>,
    /// When to wake again after the last change (ms since the epoch), soonest last.
    echoes: Vec<i64>,
}

/// Starts watching the state file at `path` (its directory, not recursively).
pub fn watch(path: &Path) -> notify::Result<FileWakeups> {
    let file = path.file_name().map(OsString::from).unwrap_or_default();
    let names = [file.clone(), with_suffix(&file, "-wal"), with_suffix(&file, "-journal")];
    let (tell, changed) = mpsc::sync_channel(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Opens and reads by other processes are not changes; an error of the watch
        // wakes the sleeper, which then looks again.
        let wakes = match event {
            Ok(event) => {
                matches!(
                    event.kind,
                    EventKind::Modify(_)
                        | EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Access(AccessKind::Close(AccessMode::Write))
                ) && event
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
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(FileWakeups { watcher, dir: dir.to_path_buf(), watching: true, changed, echoes: Vec::new() })
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
            let echo = self.echoes.last().copied().filter(|echo| *echo < until);
            let Some(left) = left_until(echo.unwrap_or(until)) else {
                if echo.is_some() {
                    self.echoes.pop();
                    return Ok(Woken::Changed);
                }
                return Ok(Woken::Due);
            };
            match self.changed.recv_timeout(left.min(STOP_CHECK)) {
                Ok(()) => {
                    let now = now_ms();
                    self.echoes = ECHOES.iter().rev().map(|after| now + after).collect();
                    return Ok(Woken::Changed);
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The watch ended (it can't, while `watcher` lives): sleep out the time.
                Err(RecvTimeoutError::Disconnected) => return Sleep.wait(until, stop),
            }
        }
    }

    /// A tick's own writes (every page of every commit) would each be an event for the
    /// watcher's thread to read: thousands a second, for nothing.
    fn pause(&mut self) {
        if self.watching {
            self.watching = self.watcher.unwatch(&self.dir).is_err();
        }
    }

    fn resume(&mut self) {
        if self.watching {
            return;
        }
        while self.changed.try_recv().is_ok() {}
        // Another process's commit written while paused may not be visible to the look
        // that comes next: wake as after a change.
        let now = now_ms();
        self.echoes = ECHOES.iter().rev().map(|after| now + after).collect();
        // A watch that can't be made again (no inotify watch left) is tried again at
        // the next resume; meanwhile the echoes and the due times wake the waits.
        self.watching = self.watcher.watch(&self.dir, RecursiveMode::NonRecursive).is_ok();
    }
}

/// How often to look when the file can't be watched (no inotify instance left: the
/// system allows each user only so many).
const POLL: i64 = 5_000;

/// The wait when the file can't be watched: it looks every [`POLL`] ms, as `watch` did
/// before wake-ups, rather than refusing to run.
pub struct Polling;

impl Wakeups for Polling {
    fn wait(&mut self, until: i64, stop: &AtomicBool) -> Result<Woken, StoreError> {
        let look = now_ms().saturating_add(POLL);
        match Sleep.wait(until.min(look), stop)? {
            Woken::Due if look < until => Ok(Woken::Changed),
            woken => Ok(woken),
        }
    }
}
