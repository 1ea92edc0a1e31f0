//! Crash-injection points and a provider-call log for the reliability tests. Compiled
//! in only with the `failpoints` feature; a release build has none.
//!
//! `ADDONS_FAILPOINT` lists armed points, comma-separated: `name` kills the process
//! with SIGKILL when it reaches that point; `name=sleep:MS` pauses there instead, and
//! `name=until:PATH` pauses until the file PATH exists (two minutes at most), so a test
//! decides when the process goes on.
//! `ADDONS_CALL_LOG=PATH` appends `<pid> <operation> <addon id>` to PATH for every
//! provider operation, so tests can count them.
//!
//! Points inside a rotation (`tests/rotation.rs`): `after-ensure-credential` (the new
//! login is made, the vars not yet switched) and `after-revoke-credential` (an old login
//! is gone, that not yet recorded); `before-step-commit` splits both from their commit.
//! Around an `on_change` hook (`tests/hooks.rs`): `before-hook-run` (claimed, not run)
//! and `after-hook-run` (run, its result not recorded: it runs again, at least once).
//! In a drift check (`tests/check_races.rs`): `before-check-repair` (drift found,
//! nothing repaired yet).
//!
//! In a backup's or restore's worker (`tests/backups.rs`): `backup-worker-start` (before
//! it claims anything), `backup-started` (the file partly written), `backup-before-record`
//! (the file whole and renamed, not yet recorded), `restore-started` (mid-transaction),
//! `restore-before-commit` (postgres: all sent but the `COMMIT`), `restore-before-record`
//! (committed, not yet recorded: the next worker restores again).
//!
//! Two more knobs of these builds live where they act: `ADDONS_CLOCK_OFFSET_MS` moves
//! this process's clock (`crate::clock::host_ms`: a host a day behind or ahead, for
//! `tests/clock.rs`), and `ADDONS_SQLITE_SYNCHRONOUS=normal|full` puts every write of a
//! state file at one sync level (`store::sqlite`, for `bench/run`).

/// Marks a point where a crash could split work.
#[macro_export]
macro_rules! failpoint {
    ($name:expr) => {
        #[cfg(feature = "failpoints")]
        $crate::failpoint::reach($name);
    };
}

/// Records one provider operation in the call log.
#[macro_export]
macro_rules! provider_call {
    ($operation:expr, $addon_id:expr) => {
        #[cfg(feature = "failpoints")]
        $crate::failpoint::log_call($operation, $addon_id);
    };
}

/// Acts on the named point if it is armed.
#[cfg(feature = "failpoints")]
pub fn reach(name: &str) {
    let Ok(armed) = std::env::var("ADDONS_FAILPOINT") else {
        return;
    };
    for point in armed.split(',') {
        let (point, action) = point.split_once('=').unwrap_or((point, "kill"));
        if point != name {
            continue;
        }
        if let Some(path) = action.strip_prefix("until:") {
            let started = std::time::Instant::now();
            while !std::path::Path::new(path).exists() && started.elapsed().as_secs() < 120 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            continue;
        }
        match action.strip_prefix("sleep:").and_then(|ms| ms.parse().ok()) {
            Some(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            // SAFETY: raise() has no preconditions; SIGKILL ends the process on the spot.
            None => unsafe {
                libc::raise(libc::SIGKILL);
            },
        }
    }
}

/// Appends one line to the call log, if one is set.
#[cfg(feature = "failpoints")]
pub fn log_call(operation: &str, addon_id: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("ADDONS_CALL_LOG") {
        let line = format!("{} {operation} {addon_id}\n", std::process::id());
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            // One short write with O_APPEND: lines from several processes never mix.
            let _ = file.write_all(line.as_bytes());
        }
    }
}
