//! Who holds a claim: a token naming the host, its boot and the process, unique across
//! hosts, so a tick can tell when a holder on its own host died and take its steps over
//! at once, and never mistakes a process of another host (or container) for its own.

use rand::Rng;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// This boot of this kernel: two containers that share a hostname and pids still
/// differ here unless they share the kernel, and then their pids are one pid space
/// only if they share the pid namespace too, which the random part covers.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|id| id.trim().to_string()).unwrap_or_default()
}

/// `host:boot:pid:random64`: who holds a claim.
pub(super) fn claim_token() -> String {
    format!("{}:{}:{}:{:016x}", hostname(), boot_id(), std::process::id(), rand::rng().random::<u64>())
}

/// Whether a claim's holder is a process of this host and boot that no longer exists.
pub(super) fn is_dead_holder(token: &str) -> bool {
    is_dead_holder_on(token, &hostname(), &boot_id())
}

fn is_dead_holder_on(token: &str, host: &str, boot: &str) -> bool {
    let mut parts = token.rsplitn(4, ':');
    let (_random, pid, their_boot, their_host) = (parts.next(), parts.next(), parts.next(), parts.next());
    let Some(pid) = pid.and_then(|pid| pid.parse::<i32>().ok()) else {
        return false;
    };
    if boot.is_empty() || their_host != Some(host) || their_boot != Some(boot) {
        return false;
    }
    if pid == std::process::id() as i32 || pid <= 0 {
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
    fn dead_holders_are_recognised_only_on_this_host_and_boot() {
        let (host, boot) = (hostname(), boot_id());
        let gone = i32::MAX - 1;
        assert!(!is_dead_holder(&claim_token()), "this process is alive");
        assert!(is_dead_holder(&format!("{host}:{boot}:{gone}:0")));
        assert!(!is_dead_holder(&format!("other-host:{boot}:{gone}:0")));
        // Same hostname, another boot (another machine or VM): only the lease frees it.
        assert!(!is_dead_holder(&format!("{host}:00000000-0000-0000-0000-000000000000:{gone}:0")));
        // A token of an older addons (host:pid:random) is left to its lease.
        assert!(!is_dead_holder(&format!("{host}:{gone}:0")));
        assert!(!is_dead_holder("garbage"));
        assert!(!is_dead_holder_on(&format!("{host}::{gone}:0"), &host, ""));
    }

    #[test]
    fn tokens_differ_between_processes_with_the_same_host_and_pid() {
        let (a, b) = (claim_token(), claim_token());
        assert_ne!(a, b);
        assert_eq!(a.rsplit(':').next().map(str::len), Some(16));
    }
}
