//! Who holds a claim: a token naming the host and process, so a tick on the same host
//! can tell when the holder died and take its steps over at once.

use rand::Rng;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// `host:pid:random`: who holds a claim, so a tick on the same host can tell when
/// the holder died.
pub(super) fn claim_token() -> String {
    format!("{}:{}:{:08x}", hostname(), std::process::id(), rand::rng().random::<u32>())
}

/// Whether a claim's holder is a process on this host that no longer exists.
pub(super) fn is_dead_holder(token: &str) -> bool {
    let mut parts = token.rsplitn(3, ':');
    let (_random, pid, host) = (parts.next(), parts.next(), parts.next());
    let Some(pid) = pid.and_then(|pid| pid.parse::<i32>().ok()) else {
        return false;
    };
    if host != Some(hostname().as_str()) || pid == std::process::id() as i32 || pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let alive =
        unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
    !alive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_holders_are_recognised() {
        assert!(!is_dead_holder(&claim_token()), "this process is alive");
        assert!(is_dead_holder(&format!("{}:{}:0", hostname(), i32::MAX - 1)));
        assert!(!is_dead_holder(&format!("other-host:{}:0", i32::MAX - 1)));
        assert!(!is_dead_holder("garbage"));
    }
}
