//! Crash-injection points for the reliability tests. Compiled in only with the
//! `failpoints` feature: then `ADDONS_FAILPOINT=<name>` makes the process kill itself
//! with SIGKILL when it reaches that point. A release build has none.

/// Marks a point where a crash could split work.
#[macro_export]
macro_rules! failpoint {
    ($name:expr) => {
        #[cfg(feature = "failpoints")]
        $crate::failpoint::reach($name);
    };
}

/// Kills the process with SIGKILL if the named point is armed.
#[cfg(feature = "failpoints")]
pub fn reach(name: &str) {
    let armed = std::env::var("ADDONS_FAILPOINT").ok();
    if armed.as_deref() == Some(name) {
        // SAFETY: raise() has no preconditions; SIGKILL ends the process on the spot.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}
