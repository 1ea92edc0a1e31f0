//! Keeps the terminal from echoing `^C` while the live display is on screen. The
//! display leaves the cursor at the end of its last line; an echoed `^C` would push it
//! a line down, and every frame after would be drawn a line off, leaving a stale line
//! behind. SIGINT still reaches `watch` and `wait`, which stop and draw a final frame.

/// The terminal's settings as they were, put back when dropped.
pub struct QuietInterrupt {
    saved: Option<libc::termios>,
}

impl QuietInterrupt {
    /// Turns off the echo of control characters on stderr's terminal, when this
    /// process is in its foreground (a background one would be stopped for trying).
    pub fn new() -> QuietInterrupt {
        const FD: libc::c_int = libc::STDERR_FILENO;
        // SAFETY: tcgetpgrp, getpgrp, tcgetattr and tcsetattr read or write only the
        // termios passed, which is a plain C struct that zeroed memory initializes.
        unsafe {
            if libc::tcgetpgrp(FD) != libc::getpgrp() {
                return QuietInterrupt { saved: None };
            }
            let mut settings: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(FD, &mut settings) != 0 || settings.c_lflag & libc::ECHOCTL == 0 {
                return QuietInterrupt { saved: None };
            }
            let saved = settings;
            settings.c_lflag &= !libc::ECHOCTL;
            let changed = libc::tcsetattr(FD, libc::TCSANOW, &settings) == 0;
            QuietInterrupt { saved: changed.then_some(saved) }
        }
    }
}

impl Drop for QuietInterrupt {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: as above; `saved` came from tcgetattr.
            unsafe {
                libc::tcsetattr(libc::STDERR_FILENO, libc::TCSANOW, saved);
            }
        }
    }
}
