//! The live display on a terminal, drawn by indicatif: one MultiProgress holding a bar
//! per line of the table (laid out by frame.rs) and a summary bar whose spinner and
//! clock turn on indicatif's steady tick. It never takes more lines than the terminal
//! has, so nothing scrolls; the final frame stays on screen. Without a terminal (or
//! with `-q`/`--json`) nothing is drawn: one plain line per transition or failed
//! attempt instead, or none.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::echo::QuietInterrupt;
use super::frame::{countdown, natural_order, progress_template, table, Cells, Line, Message};
use crate::addon::Addon;
use crate::engine::COPYING;
use crate::machine::State;
use crate::output::outcome_line;
use crate::providers::CopyProgress;
use crate::store::Outcome;

/// Where plain lines go when there is no live display.
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

/// How long a finished addon keeps its line while others still move.
const KEEP_FINISHED: Duration = Duration::from_secs(10);
/// How often the spinner and the clock turn while addons have work left.
const SPIN: Duration = Duration::from_millis(150);
/// How often the clock alone turns when none has (an idle `watch --forever`).
const CLOCK: Duration = Duration::from_secs(1);
/// How often a retry's countdown turns.
const COUNT_DOWN: Duration = Duration::from_secs(1);
/// Lines of the terminal the frame leaves free: the one under it, where the cursor
/// goes once it is done, and one for what the command prints after it.
const FREE_LINES: usize = 2;

/// The display's bars, and what it knows: every addon seen moving in this run.
struct Live {
    multi: MultiProgress,
    summary: ProgressBar,
    screen: Mutex<Screen>,
    _quiet: QuietInterrupt,
}

struct Screen {
    rows: HashMap<String, Row>,
    /// Addons that moved since the last update.
    touched: Vec<String>,
    pending: usize,
    /// How far each copy at work has come, as last counted, by addon id.
    copies: HashMap<String, CopyProgress>,
    /// Addons with work outside their lifecycle at hand (a backup, a restore): moving,
    /// and their lines show its progress.
    working: std::collections::HashSet<String>,
    /// The bars of the table's lines, top down.
    lines: Vec<LineBar>,
    /// Whether the summary's spinner turns: from the start, so a first step that takes
    /// its time shows the command at work, and then while addons have work left.
    spinning: bool,
}

/// The bar of one line of the table.
struct LineBar {
    bar: ProgressBar,
    /// Whether it is counting down to a retry.
    counting: bool,
    /// The addon whose copy it shows the progress of: the rate and the time left are
    /// worked out from the counts this bar was given.
    copying: Option<String>,
}

struct Row {
    addon: Addon,
    /// The time left until a failed attempt's next try, as of `seen`.
    next_try: Option<Duration>,
    seen: Instant,
    /// When it stopped moving; `None` while it has work left.
    finished: Option<Instant>,
    /// Whether work outside its lifecycle is at hand (its copy progress is that work's).
    working: bool,
}

impl Progress {
    /// A live display when stderr is a terminal and `quiet` is off; else plain lines to `plain`.
    pub fn new(quiet: bool, plain: Plain) -> Progress {
        let live = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let live = Live {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                // Made now, so its clock counts from the start of the command.
                summary: ProgressBar::new_spinner().with_style(summary_style(true)),
                screen: Mutex::new(Screen::new()),
                _quiet: QuietInterrupt::new(),
            };
            live.multi.add(live.summary.clone());
            live.summary.set_message("starting");
            live.summary.enable_steady_tick(SPIN);
            live
        });
        Progress { live, plain: if quiet { Plain::Nowhere } else { plain } }
    }

    /// Whether a live display is on screen.
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// Reports one transition.
    pub fn transition(&self, outcome: &Outcome) {
        match &self.live {
            // The next update reads the addon, so one that moved and finished within a
            // tick still gets its line.
            Some(live) => lock(&live.screen).touched.push(outcome.id.clone()),
            None => self.plain_line(outcome),
        }
    }

    /// Reports the failed attempts of a tick, which will be retried: on a terminal the
    /// addon's line says why and when the next try comes; else one plain line each, so
    /// a log shows why a wait goes on.
    pub fn failed_attempts(&self, attempts: &[Outcome]) {
        if self.live.is_none() {
            attempts.iter().for_each(|attempt| self.plain_line(attempt));
        }
    }

    fn plain_line(&self, outcome: &Outcome) {
        match self.plain {
            Plain::Nowhere => {}
            Plain::Stdout => println!("{}", outcome_line(outcome)),
            Plain::Stderr => eprintln!("{}", outcome_line(outcome)),
        }
    }

    /// Runs `print`, which writes to the terminal, with the display taken off screen
    /// and drawn again after it, so its lines land above the display, not inside it.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.live {
            Some(live) => live.multi.suspend(print),
            None => print(),
        }
    }

    /// The ids of the addons that moved since the last update, and of those on screen
    /// that were still moving then: `watch` reads them again, so a line shows how each
    /// one finished.
    pub fn to_refresh(&self) -> Vec<String> {
        let Some(live) = &self.live else { return Vec::new() };
        let mut screen = lock(&live.screen);
        let mut ids = std::mem::take(&mut screen.touched);
        ids.extend(screen.rows.values().filter(|row| row.finished.is_none()).map(|row| row.addon.id.clone()));
        ids.sort();
        ids.dedup();
        ids
    }

    /// Notes how far the copies a tick looked at have come: their lines show it.
    pub fn copies(&self, copies: &[(String, CopyProgress)]) {
        let Some(live) = &self.live else { return };
        lock(&live.screen).copies.extend(copies.iter().cloned());
    }

    /// Shows work on an addon outside its lifecycle (a backup, a restore): its line
    /// says `what`, with `progress` when it can be counted, and moves until
    /// [`Progress::worked`].
    pub fn working(&self, addon: &Addon, what: &str, progress: Option<CopyProgress>, now: i64) {
        let Some(live) = &self.live else { return };
        let mut screen = lock(&live.screen);
        screen.working.insert(addon.id.clone());
        if let Some(progress) = progress {
            screen.copies.insert(addon.id.clone(), progress);
        }
        let shown = Addon { message: what.to_string(), ..addon.clone() };
        screen.absorb(std::slice::from_ref(&shown), 1, now);
        live.draw(&mut screen, false);
    }

    /// Ends the work [`Progress::working`] showed, its line saying `said`, and leaves the
    /// final frame on screen.
    pub fn worked(&self, addon: &Addon, said: &str, now: i64) {
        if let Some(live) = &self.live {
            lock(&live.screen).working.remove(&addon.id);
        }
        self.finish(&[Addon { message: said.to_string(), ..addon.clone() }], 0, now);
    }

    /// Redraws with these addons as they are now (an addon with work left is moving),
    /// `pending` addons with work left in all, at `now` on the state's clock.
    pub fn update(&self, addons: &[Addon], pending: usize, now: i64) {
        let Some(live) = &self.live else { return };
        let mut screen = lock(&live.screen);
        screen.absorb(addons, pending, now);
        live.draw(&mut screen, false);
    }

    /// Draws the final frame from the addons as they are now, and leaves it on screen.
    pub fn finish(&self, addons: &[Addon], pending: usize, now: i64) {
        let Some(live) = &self.live else { return };
        let mut screen = lock(&live.screen);
        screen.absorb(addons, pending, now);
        live.draw(&mut screen, true);
        for line in &screen.lines {
            line.bar.finish();
        }
        live.summary.finish();
    }
}

/// Whether the addon's step is the copy of `provision --from` (and not a retry of it).
fn is_copying(addon: &Addon) -> bool {
    addon.state == State::WaitingForProvision && addon.last_error.is_none() && addon.message.starts_with(COPYING)
}

fn lock(screen: &Mutex<Screen>) -> MutexGuard<'_, Screen> {
    screen.lock().unwrap_or_else(|e| e.into_inner())
}

/// The summary line: the spinner while addons move, then the clock alone.
fn summary_style(spinning: bool) -> ProgressStyle {
    let template = if spinning { "{spinner} {msg} [{elapsed_precise}]" } else { "{msg} [{elapsed_precise}]" };
    ProgressStyle::with_template(template).expect("a valid template").tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
}

impl Screen {
    /// An empty table, its summary spinning.
    fn new() -> Screen {
        Screen {
            rows: HashMap::new(),
            touched: Vec::new(),
            pending: 0,
            copies: HashMap::new(),
            working: std::collections::HashSet::new(),
            lines: Vec::new(),
            spinning: true,
        }
    }

    fn absorb(&mut self, addons: &[Addon], pending: usize, now: i64) {
        let seen = Instant::now();
        for addon in addons {
            let working = self.working.contains(&addon.id);
            let moving = addon.has_pending_work() || working;
            let next_try = addon
                .due_at
                .filter(|_| moving && addon.last_error.is_some())
                .map(|due_at| Duration::from_millis((due_at - now).max(0) as u64));
            let row = match self.rows.entry(addon.id.clone()) {
                Entry::Occupied(row) => {
                    let row = row.into_mut();
                    row.addon.clone_from(addon);
                    (row.next_try, row.seen) = (next_try, seen);
                    row
                }
                Entry::Vacant(row) => row.insert(Row { addon: addon.clone(), next_try, seen, finished: None, working }),
            };
            row.working = working;
            row.finished = match (moving, row.finished) {
                (true, _) => None,
                (false, None) => Some(seen),
                (false, finished) => finished,
            };
            if !is_copying(addon) && !working {
                self.copies.remove(&addon.id);
            }
        }
        self.pending = pending;
    }

    /// The table's rows: the moving addons, then those that finished lately (all of
    /// them in the `last` frame), each group in the natural order of their names. Only
    /// the first `room` say what their line says: the rest are counted, not shown.
    fn rows(&self, last: bool, room: usize) -> Vec<(Cells, bool)> {
        let now = Instant::now();
        let mut rows: Vec<&Row> = self
            .rows
            .values()
            .filter(|row| row.finished.is_none_or(|at| last || now.duration_since(at) < KEEP_FINISHED))
            .collect();
        rows.sort_by(|a, b| {
            a.finished.is_some().cmp(&b.finished.is_some()).then_with(|| natural_order(&a.addon.name, &b.addon.name))
        });
        let cells = |(at, row): (usize, &Row)| match at < room {
            true => row.cells(now, self.copies.get(&row.addon.id)),
            false => Cells::counted(),
        };
        rows.into_iter().enumerate().map(|(at, row)| (cells((at, row)), row.finished.is_none())).collect()
    }

    fn summary(&self) -> String {
        let settled = self.rows.values().filter(|row| row.finished.is_some()).count();
        format!("{settled}/{} settled, {} with work left", self.rows.len(), self.pending)
    }
}

impl Row {
    /// What the addon's line says at `now`, with its copy's progress when it is copying.
    fn cells(&self, now: Instant, copy: Option<&CopyProgress>) -> Cells {
        let addon = &self.addon;
        let cleanup = addon.state.is_terminal() && addon.has_pending_work();
        let (state, short_state) = match (addon.state, cleanup) {
            (State::WaitingForProvision, _) => (addon.state.to_string(), "provisioning".to_string()),
            (State::Deprovisioned, true) => (format!("{} (cleanup pending)", addon.state), "deprovisioning".into()),
            (State::Error, true) => (format!("{} (cleanup pending)", addon.state), "error (cleanup)".into()),
            _ => (addon.state.to_string(), addon.state.to_string()),
        };
        let message = match (&addon.last_error, self.next_try) {
            (Some(why), Some(next_try)) => Message::Retry {
                why: why.clone(),
                next_try: next_try.saturating_sub(now.duration_since(self.seen)),
                attempt: addon.attempts + 1,
            },
            _ => match copy.filter(|_| self.working || is_copying(addon)) {
                Some(progress) => Message::Copy { text: addon.message.clone(), progress: *progress },
                None => Message::Text(addon.message.clone()),
            },
        };
        Cells {
            name: addon.name.clone(),
            app: addon.app.clone(),
            provider: addon.provider.clone(),
            state,
            short_state,
            message,
        }
    }
}

impl Live {
    /// Lays the frame out for the terminal's size now and hands each line to its bar;
    /// indicatif draws them. The `last` frame has every row and no countdown left
    /// running.
    fn draw(&self, screen: &mut Screen, last: bool) {
        let (height, width) = console::Term::stderr().size();
        let (height, width) = (usize::from(height), usize::from(width));
        // The summary takes a line of its own.
        let room = height.saturating_sub(FREE_LINES + 1);
        let rows = screen.rows(last, room);
        let rows: Vec<(&Cells, bool)> = rows.iter().map(|(cells, moving)| (cells, *moving)).collect();
        let lines = table(&rows, width, room);
        let spinning = screen.pending > 0 && !last;
        if spinning != screen.spinning {
            // Idle, the clock alone turns, once a second.
            self.summary.set_style(summary_style(spinning));
            self.summary.enable_steady_tick(if spinning { SPIN } else { CLOCK });
            screen.spinning = spinning;
        }
        while screen.lines.len() < lines.len() {
            let bar = self.multi.insert_before(&self.summary, ProgressBar::new_spinner());
            screen.lines.push(LineBar { bar, counting: false, copying: None });
        }
        while screen.lines.len() > lines.len() {
            if let Some(line) = screen.lines.pop() {
                self.multi.remove(&line.bar);
            }
        }
        for (shown, line) in screen.lines.iter_mut().zip(lines) {
            let bar = &shown.bar;
            match (line.countdown.filter(|_| !last), &line.copy) {
                (Some(left), _) => {
                    bar.set_style(counting_style(&line, left));
                    if !shown.counting {
                        bar.enable_steady_tick(COUNT_DOWN);
                    }
                }
                (None, Some(copy)) => {
                    let template = format!("{{msg}}{}", progress_template(copy.progress.unit));
                    bar.set_style(ProgressStyle::with_template(&template).expect("a valid template"));
                    // Counted afresh when the line shows another addon's copy.
                    let same = shown.copying.as_ref() == Some(&copy.name);
                    bar.set_position(copy.progress.done);
                    bar.set_length(copy.progress.total.max(copy.progress.done));
                    if !same {
                        bar.reset_eta();
                    }
                }
                (None, None) => {
                    bar.set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
                }
            }
            if shown.counting && (line.countdown.is_none() || last) {
                bar.disable_steady_tick();
            }
            shown.counting = line.countdown.is_some() && !last;
            shown.copying = line.copy.as_ref().map(|copy| copy.name.clone());
            bar.set_message(match shown.counting {
                true => line.head.clone(),
                false => line.render(line.countdown.unwrap_or_default()),
            });
        }
        let summary = screen.summary();
        let room = width.saturating_sub(" [00:00:00]".len() + if last { 0 } else { 2 });
        if last {
            self.summary.disable_steady_tick();
        }
        self.summary.set_message(console::truncate_str(&summary, room, "…").into_owned());
    }
}

/// A retry's line: its head as the message, then the time left until `left` from now
/// runs out, then its tail, each drawn afresh on every tick of its bar.
fn counting_style(line: &Line, left: Duration) -> ProgressStyle {
    let due = Instant::now() + left;
    let tail = line.tail.clone();
    ProgressStyle::with_template("{msg}{next_try}{tail}")
        .expect("a valid template")
        .with_key("next_try", move |_: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = out.write_str(&countdown(due.saturating_duration_since(Instant::now())));
        })
        .with_key("tail", move |_: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = out.write_str(&tail);
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addon::{Cleanup, Params};

    fn addon(name: &str, state: State) -> Addon {
        Addon {
            id: format!("id-{name}"),
            name: name.into(),
            provider: "redis".into(),
            app: "web".into(),
            prefix: None,
            params: Params::new(),
            seed: Vec::new(),
            state,
            message: "provisioned".into(),
            vars: vec!["REDIS_URL".into()],
            config: None,
            begun: true,
            cleanup: Cleanup::None,
            attempts: 0,
            due_at: None,
            deadline_at: 0,
            claim: None,
            claim_until: None,
            created_at: 0,
            updated_at: 0,
            failure: None,
            last_error: None,
            last_error_permanent: false,
            labels: Default::default(),
            expires_at: None,
            login: crate::credential::Login::PROVISIONED,
            verified_at: None,
            drift: None,
            attachments: Vec::new(),
            server: None,
            source_id: None,
        }
    }

    fn screen() -> Screen {
        Screen::new()
    }

    #[test]
    fn moving_addons_come_first_each_group_in_natural_order() {
        let mut screen = screen();
        let names = ["fleet-10", "fleet-7", "fleet-9", "fleet-1"];
        let addons: Vec<Addon> = names.iter().map(|name| addon(name, State::Provisioned)).collect();
        screen.absorb(&addons, 4, 0);
        screen.absorb(&[addon("fleet-9", State::Ready), addon("fleet-1", State::Ready)], 2, 0);
        let rows: Vec<(String, bool)> =
            screen.rows(false, 10).into_iter().map(|(cells, moving)| (cells.name, moving)).collect();
        let expected = [("fleet-7", true), ("fleet-10", true), ("fleet-1", false), ("fleet-9", false)];
        assert_eq!(rows, expected.map(|(name, moving)| (name.to_string(), moving)));
        assert_eq!(screen.summary(), "2/4 settled, 2 with work left");
    }

    #[test]
    fn a_retried_addon_says_why_when_and_which_attempt_comes_next() {
        let mut retried = addon("cache", State::WaitingForProvision);
        retried.message = "retrying (attempt 5): redis at 127.0.0.1:6399: connection refused".into();
        retried.last_error = Some("redis at 127.0.0.1:6399: connection refused".into());
        retried.attempts = 5;
        retried.due_at = Some(108_000);
        let mut screen = screen();
        screen.absorb(&[retried], 1, 100_000);
        let (cells, _) = screen.rows(false, 10).pop().unwrap();
        let Message::Retry { why, next_try, attempt } = cells.message else { panic!("{:?}", cells.message) };
        assert_eq!((why.as_str(), attempt), ("redis at 127.0.0.1:6399: connection refused", 6));
        assert!(next_try <= Duration::from_secs(8) && next_try > Duration::from_secs(7), "{next_try:?}");
        assert_eq!((cells.state.as_str(), cells.short_state.as_str()), ("waiting_for_provision", "provisioning"));
    }
}
