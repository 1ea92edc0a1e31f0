//! The live display on a terminal, drawn by indicatif: one MultiProgress holding a bar
//! per line of the table (laid out by frame.rs) and a summary bar whose spinner and
//! clock turn on indicatif's steady tick. It never takes more lines than the terminal
//! has, so nothing scrolls; the final frame stays on screen. Without a terminal (or
//! with `-q`/`--json`) nothing is drawn: one plain line per transition or failed
//! attempt instead, or none.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::echo::QuietInterrupt;
use super::frame::{countdown, natural_order, progress_template, table, Cells, Line, Message};
use crate::addon::{Addon, Glance};
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
    working: HashSet<String>,
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
    addon: Glance,
    /// The time left until a failed attempt's next try, as of `seen`.
    next_try: Option<Duration>,
    seen: Instant,
    /// When it stopped moving; `None` while it has work left.
    finished: Option<Instant>,
    /// Whether it moved since it was last read (its line is read again before it is
    /// shown).
    stale: bool,
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
        screen.take(vec![Glance { message: what.to_string(), ..Glance::of(addon) }], now);
        screen.pending = 1;
        live.draw(&mut screen, false);
    }

    /// Ends the work [`Progress::working`] showed, its line saying `said`, and leaves the
    /// final frame on screen.
    pub fn worked(&self, addon: &Addon, said: &str, now: i64) {
        if let Some(live) = &self.live {
            lock(&live.screen).working.remove(&addon.id);
        }
        let shown = Glance { message: said.to_string(), ..Glance::of(addon) };
        // The addon is at hand: nothing is read, so nothing can fail.
        let _ = self.finish(vec![shown], &mut |_| Ok(Vec::new()), 0, now);
    }

    /// Redraws with `glances` at the addons as they are now: every addon with work left
    /// (it is moving), and any others the caller has at hand. An addon that was moving
    /// and is not among them has stopped; `look` reads glances at the stopped ones the
    /// table has room to show, and at any that moved without being seen yet (the rest
    /// are counted, never read: a fleet of thousands is not read again on each frame).
    /// `pending` addons have work left in all, at `now` on the state's clock.
    pub fn update(&self, glances: Vec<Glance>, look: &mut Look<'_>, pending: usize, now: i64) -> anyhow::Result<()> {
        self.redraw(glances, look, pending, now, false)
    }

    /// Draws the final frame as `update` does, and leaves it on screen.
    pub fn finish(&self, glances: Vec<Glance>, look: &mut Look<'_>, pending: usize, now: i64) -> anyhow::Result<()> {
        self.redraw(glances, look, pending, now, true)?;
        if let Some(live) = &self.live {
            for line in &lock(&live.screen).lines {
                line.bar.finish();
            }
            live.summary.finish();
        }
        Ok(())
    }

    fn redraw(
        &self,
        glances: Vec<Glance>,
        look: &mut Look<'_>,
        pending: usize,
        now: i64,
        last: bool,
    ) -> anyhow::Result<()> {
        let Some(live) = &self.live else { return Ok(()) };
        let mut screen = lock(&live.screen);
        let fresh: HashSet<String> = glances.iter().map(|glance| glance.id.clone()).collect();
        screen.take(glances, now);
        screen.pending = pending;
        let unseen = screen.settle(&fresh);
        if !unseen.is_empty() {
            screen.take(look(&unseen)?, now);
        }
        let stale = screen.stale_shown(last, live.room());
        if !stale.is_empty() {
            screen.take(look(&stale)?, now);
        }
        live.draw(&mut screen, last);
        Ok(())
    }
}

/// Reads glances at the addons of these ids from the state (an id of none is left out).
pub type Look<'a> = dyn FnMut(&[String]) -> anyhow::Result<Vec<Glance>> + 'a;

/// Whether the addon's step is the copy of `provision --from` (and not a retry of it).
fn is_copying(addon: &Glance) -> bool {
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
            working: HashSet::new(),
            lines: Vec::new(),
            spinning: true,
        }
    }

    /// Takes in glances read just now.
    fn take(&mut self, glances: Vec<Glance>, now: i64) {
        let seen = Instant::now();
        for addon in glances {
            let working = self.working.contains(&addon.id);
            let moving = addon.moving || working;
            let next_try = addon
                .due_at
                .filter(|_| moving && addon.last_error.is_some())
                .map(|due_at| Duration::from_millis((due_at - now).max(0) as u64));
            if !is_copying(&addon) && !working && !self.copies.is_empty() {
                self.copies.remove(&addon.id);
            }
            let row = match self.rows.entry(addon.id.clone()) {
                Entry::Occupied(row) => {
                    let row = row.into_mut();
                    (row.addon, row.next_try, row.seen, row.stale) = (addon, next_try, seen, false);
                    row
                }
                Entry::Vacant(row) => row.insert(Row { addon, next_try, seen, finished: None, stale: false, working }),
            };
            row.working = working;
            row.finished = match (moving, row.finished) {
                (true, _) => None,
                (false, None) => Some(seen),
                (false, finished) => finished,
            };
        }
    }

    /// After glances at every addon with work left were taken (`fresh`, their ids): a
    /// row still moving that is not among them has stopped, and one that moved since
    /// and is not among them has moved on: both are stale until looked at again.
    /// Returns the ids of those that moved and have no row yet.
    fn settle(&mut self, fresh: &HashSet<String>) -> Vec<String> {
        let seen = Instant::now();
        let mut unseen = Vec::new();
        for id in std::mem::take(&mut self.touched) {
            if !fresh.contains(&id) {
                match self.rows.get_mut(&id) {
                    Some(row) => row.stop(seen),
                    None => unseen.push(id),
                }
            }
        }
        for row in self.rows.values_mut() {
            if row.finished.is_none() && !row.working && !fresh.contains(&row.addon.id) {
                row.stop(seen);
            }
        }
        unseen.sort();
        unseen.dedup();
        unseen
    }

    /// The ids of the stale rows the table has room to show.
    fn stale_shown(&self, last: bool, room: usize) -> Vec<String> {
        let shown = self.ordered(last, room);
        shown.iter().take(room).filter(|row| row.stale).map(|row| row.addon.id.clone()).collect()
    }

    /// The table's rows: the moving addons, then those that finished lately (all of
    /// them in the `last` frame), each group in the natural order of their names. Only
    /// the first `room` say what their line says: the rest are counted, not shown.
    fn rows(&self, last: bool, room: usize) -> Vec<(Cells, bool)> {
        let now = Instant::now();
        let cells = |(at, row): (usize, &Row)| match at < room {
            true => row.cells(now, self.copies.get(&row.addon.id)),
            false => Cells::counted(),
        };
        let rows = self.ordered(last, room);
        rows.into_iter().enumerate().map(|(at, row)| (cells((at, row)), row.finished.is_none())).collect()
    }

    /// The rows of the table, the first `room` in order, the rest after them in none.
    fn ordered(&self, last: bool, room: usize) -> Vec<&Row> {
        let now = Instant::now();
        let mut rows: Vec<&Row> = self
            .rows
            .values()
            .filter(|row| row.finished.is_none_or(|at| last || now.duration_since(at) < KEEP_FINISHED))
            .collect();
        let order = |a: &&Row, b: &&Row| {
            a.finished.is_some().cmp(&b.finished.is_some()).then_with(|| natural_order(&a.addon.name, &b.addon.name))
        };
        // Only the rows with room are shown: those are sorted, the rest only counted
        // (a fleet of thousands is not sorted on every frame).
        if rows.len() > room {
            rows.select_nth_unstable_by(room, order);
            rows[..room].sort_by(order);
        } else {
            rows.sort_by(order);
        }
        rows
    }

    fn summary(&self) -> String {
        let settled = self.rows.values().filter(|row| row.finished.is_some()).count();
        format!("{settled}/{} settled, {} with work left", self.rows.len(), self.pending)
    }
}

impl Row {
    /// The addon stopped moving, or moved on, unseen: what it shows now is read again
    /// before its line is shown.
    fn stop(&mut self, at: Instant) {
        self.addon.moving = false;
        self.next_try = None;
        self.stale = true;
        self.finished.get_or_insert(at);
    }

    /// What the addon's line says at `now`, with its copy's progress when it is copying.
    fn cells(&self, now: Instant, copy: Option<&CopyProgress>) -> Cells {
        let addon = &self.addon;
        let cleanup = addon.state.is_terminal() && addon.moving;
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
    /// The lines the table may take on the terminal now (the summary takes one more).
    fn room(&self) -> usize {
        usize::from(console::Term::stderr().size().0).saturating_sub(FREE_LINES + 1)
    }

    /// Lays the frame out for the terminal's size now and hands each line to its bar;
    /// indicatif draws them. The `last` frame has every row and no countdown left
    /// running.
    fn draw(&self, screen: &mut Screen, last: bool) {
        let width = usize::from(console::Term::stderr().size().1);
        let room = self.room();
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
            backup_schedule: None,
            version: 0,
        }
    }

    fn glance(name: &str, state: State) -> Glance {
        Glance::of(&addon(name, state))
    }

    fn screen() -> Screen {
        Screen::new()
    }

    /// Takes in glances as `update` does when the caller has them all at hand.
    fn absorb(screen: &mut Screen, glances: Vec<Glance>, pending: usize) {
        screen.take(glances, 0);
        screen.pending = pending;
    }

    #[test]
    fn an_addon_that_stops_unseen_is_counted_at_once_and_read_again_only_when_shown() {
        let mut screen = screen();
        let moving: Vec<Glance> = (1..=30).map(|n| glance(&format!("fleet-{n}"), State::Provisioned)).collect();
        let fresh = moving.iter().map(|glance| glance.id.clone()).collect();
        screen.take(moving, 0);
        assert!(screen.settle(&fresh).is_empty());
        // fleet-1..=20 stopped; fleet-31 moved and stopped within one tick; fleet-21..=30 move on.
        screen.touched = vec!["id-fleet-31".into(), "id-fleet-2".into()];
        let still: Vec<Glance> = (21..=30).map(|n| glance(&format!("fleet-{n}"), State::Provisioned)).collect();
        let fresh = still.iter().map(|glance| glance.id.clone()).collect();
        screen.take(still, 0);
        assert_eq!(screen.settle(&fresh), ["id-fleet-31"]);
        assert_eq!(screen.summary(), "20/30 settled, 0 with work left");
        // With room for 15 rows: the 10 moving, then the first 5 stopped are read again.
        assert_eq!(
            screen.stale_shown(false, 15),
            ["id-fleet-1", "id-fleet-2", "id-fleet-3", "id-fleet-4", "id-fleet-5"]
        );
        let read: Vec<Glance> = (1..=5).map(|n| glance(&format!("fleet-{n}"), State::Ready)).collect();
        screen.take(read, 0);
        assert!(screen.stale_shown(false, 15).is_empty());
        let rows = screen.rows(false, 15);
        let (cells, moving) = &rows[10];
        assert_eq!((cells.name.as_str(), cells.state.as_str(), *moving), ("fleet-1", "ready", false));
    }

    #[test]
    fn moving_addons_come_first_each_group_in_natural_order() {
        let mut screen = screen();
        let names = ["fleet-10", "fleet-7", "fleet-9", "fleet-1"];
        let addons: Vec<Glance> = names.iter().map(|name| glance(name, State::Provisioned)).collect();
        absorb(&mut screen, addons, 4);
        absorb(&mut screen, vec![glance("fleet-9", State::Ready), glance("fleet-1", State::Ready)], 2);
        let rows: Vec<(String, bool)> =
            screen.rows(false, 10).into_iter().map(|(cells, moving)| (cells.name, moving)).collect();
        let expected = [("fleet-7", true), ("fleet-10", true), ("fleet-1", false), ("fleet-9", false)];
        assert_eq!(rows, expected.map(|(name, moving)| (name.to_string(), moving)));
        assert_eq!(screen.summary(), "2/4 settled, 2 with work left");
    }

    #[test]
    fn with_room_for_a_few_rows_those_are_the_first_in_order_and_the_rest_are_counted() {
        let mut screen = screen();
        let state = |n: u32| if n.is_multiple_of(2) { State::Ready } else { State::Provisioned };
        let addons: Vec<Glance> = (1..=50).rev().map(|n| glance(&format!("fleet-{n}"), state(n))).collect();
        absorb(&mut screen, addons, 25);
        let rows = screen.rows(false, 5);
        assert_eq!(rows.len(), 50);
        let shown: Vec<&str> = rows[..5].iter().map(|(cells, _)| cells.name.as_str()).collect();
        assert_eq!(shown, ["fleet-1", "fleet-3", "fleet-5", "fleet-7", "fleet-9"]);
        assert!(rows[5..].iter().all(|(cells, _)| cells.name.is_empty()));
        assert_eq!(rows[5..].iter().filter(|(_, moving)| *moving).count(), 20);
    }

    #[test]
    fn a_retried_addon_says_why_when_and_which_attempt_comes_next() {
        let mut retried = addon("cache", State::WaitingForProvision);
        retried.message = "retrying (attempt 5): redis at 127.0.0.1:6399: connection refused".into();
        retried.last_error = Some("redis at 127.0.0.1:6399: connection refused".into());
        retried.attempts = 5;
        retried.due_at = Some(108_000);
        let mut screen = screen();
        screen.take(vec![Glance::of(&retried)], 100_000);
        let (cells, _) = screen.rows(false, 10).pop().unwrap();
        let Message::Retry { why, next_try, attempt } = cells.message else { panic!("{:?}", cells.message) };
        assert_eq!((why.as_str(), attempt), ("redis at 127.0.0.1:6399: connection refused", 6));
        assert!(next_try <= Duration::from_secs(8) && next_try > Duration::from_secs(7), "{next_try:?}");
        assert_eq!((cells.state.as_str(), cells.short_state.as_str()), ("waiting_for_provision", "provisioning"));
    }
}
