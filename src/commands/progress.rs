//! The live display of `watch`, `wait` and `--wait` on a terminal: a header, a line per
//! addon still moving (then the ones that just finished), each cut to the terminal's
//! width, and a summary line that stays on screen; one plain line per transition when
//! stderr is not a terminal.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::addon::Addon;
use crate::output::{outcome_line, table};
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

/// The screen, and the thread that turns the spinner and the clock between updates.
struct Live {
    screen: Arc<Mutex<Screen>>,
    done: Arc<AtomicBool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

/// How long a finished addon keeps its line while others still move.
const KEEP_FINISHED: Duration = Duration::from_secs(10);
/// How often the spinner and the clock turn.
const TURN: Duration = Duration::from_millis(200);
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const HEADERS: [&str; 5] = ["NAME", "APP", "PROVIDER", "STATE", "MESSAGE"];

/// What the display knows: every addon seen moving in this run, and what is on screen.
struct Screen {
    rows: HashMap<String, Row>,
    /// Addons that moved since the last update.
    touched: Vec<String>,
    seen: u64,
    pending: usize,
    started: Instant,
    turns: usize,
    /// Lines of the frame now on screen, which the next frame replaces.
    drawn: usize,
}

struct Row {
    addon: Addon,
    /// The order it was first seen in, which the moving lines keep.
    order: u64,
    /// When it stopped moving; `None` while it has work left.
    finished: Option<Instant>,
}

impl Progress {
    /// A live display when stderr is a terminal and `quiet` is off; else plain lines to `plain`.
    pub fn new(quiet: bool, plain: Plain) -> Progress {
        let live = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let screen = Arc::new(Mutex::new(Screen::new()));
            let done = Arc::new(AtomicBool::new(false));
            let ticker = {
                let (screen, done) = (screen.clone(), done.clone());
                std::thread::spawn(move || {
                    while !done.load(Ordering::SeqCst) {
                        std::thread::sleep(TURN);
                        let mut screen = lock(&screen);
                        // An update may have drawn the final frame meanwhile.
                        if !done.load(Ordering::SeqCst) && screen.drawn > 0 {
                            screen.turns += 1;
                            screen.draw(false);
                        }
                    }
                })
            };
            Live { screen, done, ticker: Mutex::new(Some(ticker)) }
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
            // The next update reads the addon, so one that moved and finished within a
            // tick still gets its line.
            (Some(live), _) => {
                lock(&live.screen).touched.push(outcome.id.clone());
            }
            (None, Plain::Nowhere) => {}
            (None, Plain::Stdout) => println!("{}", outcome_line(outcome)),
            (None, Plain::Stderr) => eprintln!("{}", outcome_line(outcome)),
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

    /// Redraws with these addons as they are now (an addon with work left is moving),
    /// and `pending` addons with work left in all.
    pub fn update(&self, addons: &[Addon], pending: usize) {
        let Some(live) = &self.live else { return };
        let mut screen = lock(&live.screen);
        screen.absorb(addons, pending);
        screen.draw(false);
    }

    /// Draws the final frame from the addons as they are now, and leaves it on screen.
    pub fn finish(&self, addons: &[Addon], pending: usize) {
        let Some(live) = &self.live else { return };
        live.stop_turning();
        let mut screen = lock(&live.screen);
        screen.absorb(addons, pending);
        screen.draw(true);
    }
}

impl Live {
    /// Stops the spinner's thread, so nothing draws over what is printed after the display.
    fn stop_turning(&self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(ticker) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = ticker.join();
        }
    }
}

impl Drop for Live {
    /// A command that fails midway leaves the last frame as it is; its error line follows.
    fn drop(&mut self) {
        self.stop_turning();
    }
}

fn lock(screen: &Mutex<Screen>) -> MutexGuard<'_, Screen> {
    screen.lock().unwrap_or_else(|e| e.into_inner())
}

impl Screen {
    fn new() -> Screen {
        Screen {
            rows: HashMap::new(),
            touched: Vec::new(),
            seen: 0,
            pending: 0,
            started: Instant::now(),
            turns: 0,
            drawn: 0,
        }
    }

    fn absorb(&mut self, addons: &[Addon], pending: usize) {
        let now = Instant::now();
        for addon in addons {
            let moving = addon.has_pending_work();
            let seen = &mut self.seen;
            let row = self.rows.entry(addon.id.clone()).or_insert_with(|| {
                *seen += 1;
                Row { addon: addon.clone(), order: *seen, finished: None }
            });
            row.addon = addon.clone();
            row.finished = match (moving, row.finished) {
                (true, _) => None,
                (false, None) => Some(now),
                (false, finished) => finished,
            };
        }
        self.pending = pending;
    }

    /// Replaces the frame on screen. The cursor is kept at the start of the line under
    /// the frame, so a `^C` the terminal echoes there is cleared with it.
    fn draw(&mut self, last: bool) {
        let (height, width) = console::Term::stderr().size();
        let lines = self.lines(usize::from(width), usize::from(height), last, Instant::now());
        let mut out = String::from("\r");
        if self.drawn > 0 {
            out += &format!("\x1b[{}A", self.drawn);
        }
        out += "\x1b[J";
        for line in &lines {
            out += line;
            out += "\n";
        }
        self.drawn = lines.len();
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(out.as_bytes());
        let _ = stderr.flush();
    }

    /// The frame for a terminal of `width` x `height`: the header, the moving addons in
    /// the order they were first seen, then the finished ones, newest first (only those
    /// that finished lately, unless this is the `last` frame), and the summary. It never
    /// takes more than `height - 2` lines (one for the cursor, one for a closing note).
    fn lines(&self, width: usize, height: usize, last: bool, now: Instant) -> Vec<String> {
        let mut moving: Vec<&Row> = self.rows.values().filter(|row| row.finished.is_none()).collect();
        moving.sort_by_key(|row| row.order);
        let mut finished: Vec<&Row> = self
            .rows
            .values()
            .filter(|row| row.finished.is_some_and(|at| last || now.duration_since(at) < KEEP_FINISHED))
            .collect();
        finished.sort_by_key(|row| (std::cmp::Reverse(row.finished), row.order));
        let shown: Vec<&Row> = moving.iter().chain(&finished).copied().collect();

        let settled = self.rows.values().filter(|row| row.finished.is_some()).count();
        let elapsed = self.started.elapsed().as_secs();
        let clock = format!("{:02}:{:02}:{:02}", elapsed / 3600, elapsed / 60 % 60, elapsed % 60);
        let summary = format!("{}/{} settled, {} with work left [{clock}]", settled, self.rows.len(), self.pending);
        let summary = if last { summary } else { format!("{} {summary}", SPINNER[self.turns % SPINNER.len()]) };

        // Room for the header, the addon lines and the summary.
        let room = height.saturating_sub(4);
        let (fits, more) = if shown.len() <= room { (shown.len(), None) } else { (room.saturating_sub(1), Some(room)) };
        let rows: Vec<Vec<String>> = shown[..fits].iter().map(|row| cells(&row.addon)).collect();
        let mut lines: Vec<String> =
            if room == 0 { Vec::new() } else { table(&HEADERS, &rows).lines().map(str::to_string).collect() };
        if more.is_some() {
            let hidden = &shown[fits..];
            let still = hidden.iter().filter(|row| row.finished.is_none()).count();
            lines.push(format!("… and {} more ({still} moving)", hidden.len()));
        }
        lines.push(summary);
        lines.into_iter().map(|line| console::truncate_str(&line, width.max(1), "…").into_owned()).collect()
    }
}

/// One addon's line: its name, app, provider, state and latest message.
fn cells(addon: &Addon) -> Vec<String> {
    let mut state = addon.state.to_string();
    if addon.state.is_terminal() && addon.has_pending_work() {
        state += " (cleanup pending)";
    }
    vec![addon.name.clone(), addon.app.clone(), addon.provider.clone(), state, addon.message.clone()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addon::{Cleanup, Params};
    use crate::machine::State;

    fn addon(i: usize, state: State) -> Addon {
        Addon {
            id: format!("{i:016x}"),
            name: format!("addon-number-{i}"),
            provider: "secret".into(),
            app: "myapp".into(),
            prefix: None,
            params: Params::new(),
            seed: Vec::new(),
            state,
            message: "a message long enough to pass the right edge of an eighty column terminal".into(),
            vars: vec!["SECRET_KEY".into()],
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
            source_id: None,
        }
    }

    #[test]
    fn a_frame_fits_the_terminal_and_keeps_the_summary() {
        let mut screen = Screen::new();
        let addons: Vec<Addon> = (0..30).map(|i| addon(i, State::WaitingForProvision)).collect();
        screen.absorb(&addons, 30);
        let lines = screen.lines(80, 24, false, Instant::now());
        assert_eq!(lines.len(), 22, "{lines:#?}");
        assert!(lines[0].starts_with("NAME "), "{lines:#?}");
        assert_eq!(lines[20], "… and 11 more (11 moving)");
        assert!(lines[21].ends_with("0/30 settled, 30 with work left [00:00:00]"), "{lines:#?}");
        assert!(lines.iter().all(|line| console::measure_text_width(line) <= 80), "{lines:#?}");
    }

    #[test]
    fn finished_addons_follow_the_moving_ones_and_count_as_settled() {
        let mut screen = Screen::new();
        screen.absorb(&[addon(1, State::WaitingForProvision), addon(2, State::Provisioned)], 2);
        screen.absorb(&[addon(1, State::Ready), addon(2, State::Provisioned)], 1);
        let lines = screen.lines(200, 24, true, Instant::now());
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[1].starts_with("addon-number-2  myapp  secret    provisioned"), "{lines:#?}");
        assert!(lines[2].starts_with("addon-number-1  myapp  secret    ready"), "{lines:#?}");
        assert_eq!(lines[3], "1/2 settled, 1 with work left [00:00:00]");
    }
}
