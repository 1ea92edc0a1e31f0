//! The live display of `watch`, `wait` and `--wait`: an indicatif line per addon and
//! an overall count on a terminal; one plain line per transition otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::addon::Addon;
use crate::output::outcome_line;
use crate::store::Outcome;

/// Where plain transition lines go when there is no live display.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Plain {
    Stdout,
    Stderr,
    Nowhere,
}

/// Shows progress as addons move.
pub struct Progress {
    live: Option<Live>,
    plain: Plain,
}

struct Live {
    multi: MultiProgress,
    overall: ProgressBar,
    lines: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    /// A live display when stderr is a terminal and `quiet` is off; else plain lines to `plain`.
    pub fn new(quiet: bool, plain: Plain) -> Progress {
        let live = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template("{spinner} {pos}/{len} settled, {msg} [{elapsed}]")
                    .expect("static template"),
            );
            overall.enable_steady_tick(Duration::from_millis(120));
            Live { multi, overall, lines: Mutex::new(HashMap::new()) }
        });
        Progress { live, plain: if quiet { Plain::Nowhere } else { plain } }
    }

    /// Whether a live display is on screen.
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// Reports one transition.
    pub fn transition(&self, outcome: &Outcome) {
        match (&self.live, self.plain) {
            (Some(_), _) | (None, Plain::Nowhere) => {}
            (None, Plain::Stdout) => println!("{}", outcome_line(outcome)),
            (None, Plain::Stderr) => eprintln!("{}", outcome_line(outcome)),
        }
    }

    /// Redraws the per-addon lines and the overall count.
    pub fn update(&self, addons: &[Addon], pending: usize) {
        let Some(live) = &self.live else { return };
        let mut lines = live.lines.lock().unwrap_or_else(|e| e.into_inner());
        let style = ProgressStyle::with_template("  {msg}").expect("static template");
        for addon in addons {
            let line = lines.entry(addon.id.clone()).or_insert_with(|| {
                let bar = live.multi.insert_before(&live.overall, ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar
            });
            let state = if addon.has_pending_work() && addon.state.is_terminal() {
                format!("{} (cleanup pending)", addon.state)
            } else {
                addon.state.to_string()
            };
            line.set_message(format!("{:<28} {:<34} {}", addon.name, state, addon.message));
        }
        let settled = addons.iter().filter(|a| a.is_settled()).count();
        live.overall.set_length(addons.len() as u64);
        live.overall.set_position(settled as u64);
        live.overall.set_message(format!("{pending} with work left"));
    }

    /// Leaves the final picture on screen.
    pub fn finish(&self) {
        if let Some(live) = &self.live {
            for line in live.lines.lock().unwrap_or_else(|e| e.into_inner()).values() {
                line.finish();
            }
            live.overall.finish();
        }
    }
}
