//! The live display's table as lines of text: which addons get a line and in what
//! order, how the columns give way on a narrow terminal, and how many lines fit. Pure
//! (no terminal, no clock), so the layout is tested on its own.

use std::cmp::Ordering;
use std::time::Duration;

use console::{measure_text_width as width_of, pad_str, truncate_str, Alignment};

use indicatif::{HumanBytes, HumanCount};

use crate::providers::{CopyProgress, CopyUnit};

/// What one addon's line says, before it is laid out.
#[derive(Debug, Clone)]
pub struct Cells {
    pub name: String,
    pub app: String,
    pub provider: String,
    /// The state as `list` shows it, and the short word that takes its place when the
    /// terminal is narrow.
    pub state: String,
    pub short_state: String,
    pub message: Message,
}

impl Cells {
    /// The cells of a row past the room of the table: counted in its last line, never
    /// laid out, so nothing of the addon is copied into them.
    pub fn counted() -> Cells {
        Cells {
            name: String::new(),
            app: String::new(),
            provider: String::new(),
            state: String::new(),
            short_state: String::new(),
            message: Message::Text(String::new()),
        }
    }
}

/// The MESSAGE column.
#[derive(Debug, Clone)]
pub enum Message {
    /// The addon's latest message.
    Text(String),
    /// A failed attempt to be retried: why it failed, the time left until the next try,
    /// and that try's number.
    Retry { why: String, next_try: Duration, attempt: u32 },
    /// A copy at work: the addon's message, then how far it has come (drawn by the
    /// display in the columns [`progress_width`] keeps after the message).
    Copy { text: String, progress: CopyProgress },
}

/// One line of the frame. A retry's line ends in a countdown to its next try, which
/// the display turns as time passes: `head`, the time left, then `tail`. A copy's line
/// is `head`, then its progress as the display draws it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub head: String,
    pub countdown: Option<Duration>,
    pub tail: String,
    pub copy: Option<Copying>,
}

/// The copy a line shows the progress of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copying {
    /// The addon's name: a line that shows another addon's copy counts afresh.
    pub name: String,
    pub progress: CopyProgress,
}

/// What the display draws after a copy's message (indicatif fills it in): the count
/// done of the whole, the rate, and the time left.
pub fn progress_template(unit: CopyUnit) -> &'static str {
    match unit {
        CopyUnit::Bytes => "{bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left",
        CopyUnit::Rows => "{human_pos}/{human_len} rows {per_sec:0} {eta} left",
        CopyUnit::Keys => "{human_pos}/{human_len} keys {per_sec:0} {eta} left",
    }
}

/// The columns a copy's progress takes at the most while its counts stay as they are:
/// the rate up to "1023.99 MiB/s" (or "999,999/s"), the time left up to "23h".
fn progress_width(progress: &CopyProgress) -> usize {
    let total = progress.total.max(progress.done);
    let (counts, rate) = match progress.unit {
        CopyUnit::Bytes => (format!("{}/{}", HumanBytes(progress.done), HumanBytes(total)), "1023.99 MiB/s"),
        CopyUnit::Rows => (format!("{}/{} rows", HumanCount(progress.done), HumanCount(total)), "999,999/s"),
        CopyUnit::Keys => (format!("{}/{} keys", HumanCount(progress.done), HumanCount(total)), "999,999/s"),
    };
    width_of(&counts) + 1 + rate.len() + " 23h left".len()
}

impl Line {
    fn plain(text: String) -> Line {
        Line { head: text, countdown: None, tail: String::new(), copy: None }
    }

    /// The line with `left` on its countdown.
    pub fn render(&self, left: Duration) -> String {
        match self.countdown {
            Some(_) => format!("{}{}{}", self.head, countdown(left), self.tail),
            None => self.head.clone(),
        }
    }
}

/// Time left as a word whose width never grows as it runs down ("1m05s", then "59s").
pub fn countdown(left: Duration) -> String {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

const HEADERS: [&str; 5] = ["NAME", "APP", "PROVIDER", "STATE", "MESSAGE"];
const GAP: usize = 2;
/// MESSAGE is cut down to this many columns (a retry's to its countdown and `MIN_WHY`
/// columns of its reason) before anything else gives way.
const MIN_MESSAGE: usize = 20;
/// APP is cut down to this many columns before columns are dropped.
const MIN_APP: usize = 8;
/// A retry's reason is cut down to this many columns before its countdown goes.
const MIN_WHY: usize = 8;

/// How the columns give way when the table is wider than the terminal. MESSAGE gives
/// way first: it is cut to the room left, down to `MIN_MESSAGE` columns; past that
/// these steps are taken in this order, one at a time, until the table fits. NAME and
/// STATE never give way (STATE only takes its short word); on a terminal too narrow
/// even for them, each line is cut at the right edge. docs/contract.md states the order.
const GIVE_WAY: [GiveWay; 5] =
    [GiveWay::ShortState, GiveWay::CutApp, GiveWay::DropMessage, GiveWay::DropProvider, GiveWay::DropApp];

#[derive(Debug, Clone, Copy)]
enum GiveWay {
    /// STATE shows `provisioning` for `waiting_for_provision`, and the like.
    ShortState,
    /// APP is cut, down to `MIN_APP` columns.
    CutApp,
    DropMessage,
    DropProvider,
    DropApp,
}

/// The width of each column shown; `None` for a column dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    name: usize,
    app: Option<usize>,
    provider: Option<usize>,
    state: usize,
    short_state: bool,
    message: Option<usize>,
}

impl Plan {
    /// The columns before MESSAGE, with their gaps.
    fn fixed(&self) -> usize {
        self.name + GAP + self.app.map_or(0, |w| w + GAP) + self.provider.map_or(0, |w| w + GAP) + self.state
    }
}

/// The widest of a column's cells and its header.
fn widest<'a>(header: &str, cells: impl Iterator<Item = &'a str>) -> usize {
    cells.map(width_of).chain([width_of(header)]).max().unwrap_or(0)
}

/// How wide a message is whole, and how narrow it may be cut before other columns give
/// way: a retry keeps its countdown and `MIN_WHY` columns of its reason.
fn message_widths(message: &Message) -> (usize, usize) {
    match message {
        Message::Text(text) => (width_of(text), width_of(text).min(MIN_MESSAGE)),
        Message::Copy { text, progress } => {
            let progress = progress_width(progress);
            (width_of(text) + 1 + progress, progress)
        }
        Message::Retry { why, next_try, attempt } => {
            let whole = width_of(&retry_text(why, *next_try, *attempt));
            (whole, whole.min(whole - width_of(why) + MIN_WHY).max(whole.min(MIN_MESSAGE)))
        }
    }
}

/// A retry's message whole: why, when the next try comes, and its number.
fn retry_text(why: &str, next_try: Duration, attempt: u32) -> String {
    format!("{why}; next try in {} (attempt {attempt})", countdown(next_try))
}

/// The columns for these rows on a terminal `width` columns wide (see [`GIVE_WAY`]).
fn plan(rows: &[&Cells], width: usize) -> Plan {
    let widths: Vec<(usize, usize)> = rows.iter().map(|r| message_widths(&r.message)).collect();
    let message = widths.iter().map(|w| w.0).chain([width_of(HEADERS[4])]).max().unwrap_or(0);
    // What MESSAGE must keep before the other columns give way.
    let wanted = widths.iter().map(|w| w.1).chain([width_of(HEADERS[4])]).max().unwrap_or(0);
    let short_state = widest(HEADERS[3], rows.iter().map(|r| r.short_state.as_str()));
    let mut plan = Plan {
        name: widest(HEADERS[0], rows.iter().map(|r| r.name.as_str())),
        app: Some(widest(HEADERS[1], rows.iter().map(|r| r.app.as_str()))),
        provider: Some(widest(HEADERS[2], rows.iter().map(|r| r.provider.as_str()))),
        state: widest(HEADERS[3], rows.iter().map(|r| r.state.as_str())),
        short_state: false,
        message: Some(message),
    };
    // How far the columns are over the width.
    let over = |plan: &Plan| match plan.message {
        Some(_) => (plan.fixed() + GAP + wanted).saturating_sub(width),
        None => plan.fixed().saturating_sub(width),
    };
    let mut steps = GIVE_WAY.iter();
    while over(&plan) > 0 {
        let Some(step) = steps.next() else { break };
        match step {
            GiveWay::ShortState => {
                plan.short_state = true;
                plan.state = plan.state.min(short_state);
            }
            GiveWay::CutApp => plan.app = plan.app.map(|app| app.saturating_sub(over(&plan)).max(MIN_APP.min(app))),
            GiveWay::DropMessage => plan.message = None,
            GiveWay::DropProvider => plan.provider = None,
            GiveWay::DropApp => plan.app = None,
        }
    }
    plan.message = plan.message.map(|natural| natural.min(width.saturating_sub(plan.fixed() + GAP)));
    plan
}

/// `text` cut to `width` columns (ending in `…` when cut), padded to it unless `last`.
fn cell(text: &str, width: usize, last: bool) -> String {
    let cut = truncate_str(text, width, "…");
    match last {
        true => cut.into_owned(),
        false => pad_str(&cut, width, Alignment::Left, None).into_owned(),
    }
}

/// One row (or the header, as a row of plain text) laid out by `plan`.
fn row(cells: &Cells, plan: &Plan, width: usize) -> Line {
    let state = if plan.short_state { &cells.short_state } else { &cells.state };
    let mut columns = vec![cell(&cells.name, plan.name, false)];
    if let Some(app) = plan.app {
        columns.push(cell(&cells.app, app, false));
    }
    if let Some(provider) = plan.provider {
        columns.push(cell(&cells.provider, provider, false));
    }
    let Some(room) = plan.message else {
        columns.push(state.clone());
        return Line::plain(cell(&columns.join("  "), width, true));
    };
    columns.push(cell(state, plan.state, false));
    let head = columns.join("  ") + "  ";
    let line = match &cells.message {
        Message::Text(text) => Line::plain(head + &cell(text, room, true)),
        // Too narrow for its progress, a copy's line says what its message says.
        Message::Copy { text, progress } if room < progress_width(progress) => {
            Line::plain(head + &cell(text, room, true))
        }
        // Its message as far as it fits (none when not even `MIN_WHY` columns would), then its progress.
        Message::Copy { text, progress } => {
            let room = room - progress_width(progress);
            let text = match room > MIN_WHY {
                true => cell(text, (room - 1).min(width_of(text)), true) + " ",
                false => String::new(),
            };
            let copy = Some(Copying { name: cells.name.clone(), progress: *progress });
            Line { head: head + &text, countdown: None, tail: String::new(), copy }
        }
        Message::Retry { why, next_try, attempt } => {
            let whole = retry_text(why, *next_try, *attempt);
            let rest = width_of(&whole) - width_of(why);
            let tail = format!(" (attempt {attempt})");
            if width_of(&whole) <= room || room >= rest + MIN_WHY {
                let why = cell(why, room.saturating_sub(rest).min(width_of(why)), true);
                Line { head: format!("{head}{why}; next try in "), countdown: Some(*next_try), tail, copy: None }
            } else {
                Line::plain(head + &cell(&whole, room, true))
            }
        }
    };
    // Only a terminal too narrow for NAME and STATE leaves a line wider than it.
    match width_of(&line.render(line.countdown.unwrap_or_default())) > width {
        true => Line::plain(cell(&line.render(line.countdown.unwrap_or_default()), width, true)),
        false => line,
    }
}

/// The table of the frame: a header, a line per row in `rows` (the caller's order)
/// while they fit in `room` lines, and then "… and N more (M moving)" for the rest.
/// `moving` says which rows are moving. Lines are at most `width` columns.
pub fn table(rows: &[(&Cells, bool)], width: usize, room: usize) -> Vec<Line> {
    if room < 2 {
        return Vec::new();
    }
    let fits = match rows.len() < room {
        true => rows.len(),
        false => room - 2,
    };
    let shown: Vec<&Cells> = rows[..fits].iter().map(|(cells, _)| *cells).collect();
    let plan = plan(&shown, width);
    let header = Cells {
        name: HEADERS[0].into(),
        app: HEADERS[1].into(),
        provider: HEADERS[2].into(),
        state: HEADERS[3].into(),
        short_state: HEADERS[3].into(),
        message: Message::Text(HEADERS[4].into()),
    };
    let mut lines: Vec<Line> = [&header].into_iter().chain(shown).map(|cells| row(cells, &plan, width)).collect();
    let hidden = &rows[fits..];
    if !hidden.is_empty() {
        let moving = hidden.iter().filter(|(_, moving)| *moving).count();
        lines.push(Line::plain(cell(&format!("… and {} more ({moving} moving)", hidden.len()), width, true)));
    }
    lines
}

/// Orders names as a person would: runs of digits compare as numbers, so `fleet-7`
/// comes before `fleet-10`.
pub fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut a_runs, mut b_runs) = (runs(a), runs(b));
    loop {
        let order = match (a_runs.next(), b_runs.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if is_number(x) && is_number(y) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            (Some(x), Some(y)) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

fn is_number(run: &str) -> bool {
    run.starts_with(|c: char| c.is_ascii_digit())
}

/// `text` cut into runs of digits and runs of anything else.
fn runs(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let end = rest.find(|c: char| c.is_ascii_digit() != first.is_ascii_digit()).unwrap_or(rest.len());
        let (run, after) = rest.split_at(end);
        rest = after;
        Some(run)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(name: &str, state: &str, short_state: &str, message: &str) -> Cells {
        Cells {
            name: name.into(),
            app: "web".into(),
            provider: "secret".into(),
            state: state.into(),
            short_state: short_state.into(),
            message: Message::Text(message.into()),
        }
    }

    fn rendered(rows: &[(&Cells, bool)], width: usize, room: usize) -> Vec<String> {
        table(rows, width, room).iter().map(|line| line.render(line.countdown.unwrap_or_default())).collect()
    }

    #[test]
    fn natural_order_compares_runs_of_digits_as_numbers() {
        let mut names = vec!["fleet-10", "fleet-7", "fleet-1", "fleet-007", "db", "fleet-2a", "fleet-2", "fleet"];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(names, ["db", "fleet", "fleet-1", "fleet-2", "fleet-2a", "fleet-007", "fleet-7", "fleet-10"]);
    }

    #[test]
    fn a_wide_terminal_shows_every_column_whole() {
        let a = cells("fleet-7", "waiting_for_provision", "provisioning", "generating a secret key");
        let lines = rendered(&[(&a, true)], 120, 20);
        assert_eq!(
            lines,
            [
                "NAME     APP  PROVIDER  STATE                  MESSAGE",
                "fleet-7  web  secret    waiting_for_provision  generating a secret key",
            ]
        );
    }

    #[test]
    fn message_gives_way_first_then_the_long_state_name() {
        let a = cells("fleet-7", "waiting_for_provision", "provisioning", "config vars set on app web: SECRET_KEY");
        // MESSAGE is cut, the rest stays whole.
        let lines = rendered(&[(&a, true)], 70, 20);
        assert_eq!(lines[1], "fleet-7  web  secret    waiting_for_provision  config vars set on app…");
        // Narrower: STATE takes its short word so MESSAGE keeps its 20 columns.
        let lines = rendered(&[(&a, true)], 60, 20);
        assert_eq!(lines[0], "NAME     APP  PROVIDER  STATE         MESSAGE");
        assert_eq!(lines[1], "fleet-7  web  secret    provisioning  config vars set on ap…");
        assert!(lines.iter().all(|line| width_of(line) <= 60), "{lines:#?}");
    }

    #[test]
    fn app_is_cut_then_message_provider_and_app_are_dropped_never_name_or_state() {
        let mut a = cells("fleet-7", "waiting_for_provision", "provisioning", "config vars set on app web: SECRET_KEY");
        a.app = "an-app-with-a-long-name".into();
        let at = |width| rendered(&[(&a, true)], width, 20);
        assert_eq!(at(70)[1], "fleet-7  an-app-with-a-…  secret    provisioning  config vars set on …");
        assert_eq!(at(64)[1], "fleet-7  an-app-w…  secret    provisioning  config vars set on …");
        assert_eq!(at(60), ["NAME     APP       PROVIDER  STATE", "fleet-7  an-app-…  secret    provisioning"]);
        assert_eq!(at(40), ["NAME     APP       STATE", "fleet-7  an-app-…  provisioning"]);
        assert_eq!(at(30), ["NAME     STATE", "fleet-7  provisioning"]);
        assert_eq!(at(12), ["NAME     ST…", "fleet-7  pr…"]);
    }

    #[test]
    fn a_retry_says_why_and_counts_down_to_its_next_try() {
        let mut a = cells("cache", "waiting_for_provision", "provisioning", "");
        a.message = Message::Retry {
            why: "redis at 127.0.0.1:6399: connection refused".into(),
            next_try: Duration::from_secs(8),
            attempt: 6,
        };
        let lines = table(&[(&a, true)], 200, 20);
        assert_eq!(
            lines[1].render(Duration::from_secs(8)),
            "cache  web  secret    waiting_for_provision  redis at 127.0.0.1:6399: connection refused; next try in 8s (attempt 6)"
        );
        assert_eq!(lines[1].countdown, Some(Duration::from_secs(8)));
        // The reason gives way before the countdown.
        let lines = table(&[(&a, true)], 80, 20);
        assert_eq!(
            lines[1].render(Duration::from_millis(6500)),
            "cache  web  secret    provisioning  redis at 127.0.…; next try in 7s (attempt 6)"
        );
        assert_eq!(countdown(Duration::from_secs(65)), "1m05s");
        assert_eq!(countdown(Duration::from_secs(3 * 3600 + 120)), "3h02m");
    }

    #[test]
    fn a_copy_keeps_room_for_its_progress_after_its_message_or_shows_its_message_alone() {
        let mut a = cells("branch-db", "waiting_for_provision", "provisioning", "");
        let progress = CopyProgress { done: 7_549_747, total: 136_500_000, unit: CopyUnit::Bytes };
        a.message = Message::Copy { text: "copying the data of main-db".into(), progress };
        let copying = Some(Copying { name: "branch-db".into(), progress });
        // "7.20 MiB/130.18 MiB" and room for the widest rate and time left.
        assert_eq!(progress_width(&progress), 19 + 1 + 13 + 9);
        let lines = table(&[(&a, true)], 160, 20);
        let head = "branch-db  web  secret    waiting_for_provision  copying the data of main-db ";
        assert_eq!((lines[1].head.as_str(), &lines[1].copy), (head, &copying));
        // Narrower: the message is cut before the progress goes, then left out.
        let lines = table(&[(&a, true)], 100, 20);
        assert_eq!(lines[1].head, "branch-db  web  secret    waiting_for_provision  copying… ");
        assert_eq!(lines[1].copy, copying);
        let lines = table(&[(&a, true)], 95, 20);
        assert_eq!(
            (lines[1].head.as_str(), &lines[1].copy),
            ("branch-db  web  secret    waiting_for_provision  ", &copying)
        );
        // Narrower still: the long state gives way to the progress, then MESSAGE goes.
        let lines = table(&[(&a, true)], 85, 20);
        assert_eq!((lines[1].head.as_str(), &lines[1].copy), ("branch-db  web  secret    provisioning  ", &copying));
        let lines = table(&[(&a, true)], 70, 20);
        assert_eq!((lines[1].head.as_str(), &lines[1].copy), ("branch-db  web  secret    provisioning", &None));
        let template = progress_template(CopyUnit::Bytes);
        assert_eq!(template, "{bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left");
    }

    #[test]
    fn a_table_that_does_not_fit_ends_in_a_count_of_the_rest() {
        let rows: Vec<Cells> = (1..=30).map(|i| cells(&format!("fleet-{i}"), "ready", "ready", "done")).collect();
        let shown: Vec<(&Cells, bool)> = rows.iter().enumerate().map(|(i, c)| (c, i % 3 == 0)).collect();
        let lines = rendered(&shown, 80, 7);
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[5], "fleet-5  web  secret    ready  done");
        assert_eq!(lines[6], "… and 25 more (8 moving)");
        assert_eq!(rendered(&shown[..6], 80, 7).len(), 7, "six rows and the header fit in seven lines");
        assert!(rendered(&shown, 80, 1).is_empty());
    }
}
