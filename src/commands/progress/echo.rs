//! Keeps the terminal from echoing `^C` while the live display is on screen. The
//! display leaves the cursor at the end of its last line; an echoed `^C` would push it
//! a line down, and every frame after would be drawn a line off, leaving a stale line
//! behind. SIGINT still reaches `watch` and `wait`, which stop and draw a final frame.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::SigId;

/// The terminal's settings as they were, put back when dropped, or as soon as a
/// SIGINT or SIGTERM comes: a second one ends the process at once, with no drop.
pub struct QuietInterrupt {
    saved: Option<(libc::termios, Vec<SigId>)>,
}

const FD: libc::c_int = libc::STDERR_FILENO;

impl QuietInterrupt {
    /// Turns off the echo of control characters on stderr's terminal, when this
    /// process is in its foreground (a background one would be stopped for trying).
    pub fn new() -> QuietInterrupt {
        // SAFETY: tcgetpgrp, getpgrp, tcgetattr and tcsetattr read or write only the
        // termios passed, a plain C struct that zeroed memory initializes.
        let saved = unsafe {
            let mut settings: libc::termios = std::mem::zeroed();
            if libc::tcgetpgrp(FD) != libc::getpgrp()
                || libc::tcgetattr(FD, &mut settings) != 0
                || settings.c_lflag & libc::ECHOCTL == 0
            {
                return QuietInterrupt { saved: None };
            }
            let saved = settings;
            settings.c_lflag &= !libc::ECHOCTL;
            if libc::tcsetattr(FD, libc::TCSANOW, &settings) != 0 {
                return QuietInterrupt { saved: None };
            }
            saved
        };
        let restore = move || {
            // SAFETY: tcsetattr is async-signal-safe; `saved` came from tcgetattr.
            unsafe {
                libc::tcsetattr(FD, libc::TCSANOW, &saved);
            }
        };
        // SAFETY: the action only calls tcsetattr, which is async-signal-safe.
        let ids = [SIGINT, SIGTERM]
            .into_iter()
            .filter_map(|signal| unsafe { signal_hook::low_level::register(signal, restore) }.ok())
            .collect();
        QuietInterrupt { saved: Some((saved, ids)) }
    }
}

impl Drop for QuietInterrupt {
    fn drop(&mut self) {
        if let Some((saved, ids)) = self.saved.take() {
            for id in ids {
                signal_hook::low_level::unregister(id);
            }
            // SAFETY: as above.
            unsafe {
                libc::tcsetattr(FD, libc::TCSANOW, &saved);
            }
        }
    }
}
