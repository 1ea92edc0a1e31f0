//! The plan of an apply: what must change for the live addons to match the file, one line
//! per addon, worked out from the file, a view of the live addons and `now`, with no I/O.
//!
//! The rules:
//! - An addon of the file that is not live is made (`+ create`).
//! - A live one with another provider, app, prefix or params can't be changed in place: a
//!   conflict (`! conflict`), which with `--replace` becomes `-/+ replace` (deprovision it,
//!   make it anew). A live one that carries another file's scope is a conflict that
//!   `--replace` does not override: two files can't both own one name. A live one made
//!   outside any apply file (no scope label) is a conflict too, unless `--adopt` takes it
//!   into the file's scope; a later `--prune` may then remove it.
//! - Otherwise its labels are made exactly the file's (plus the scope label; labels added
//!   by hand are removed), and its expiry follows `expires_in`: an addon is renewed to
//!   `now + expires_in` when less than half of that is left (or more than all of it, after
//!   the file shortened it), and kept otherwise; so an apply run twice in a row changes
//!   nothing the second time, and one run every few days keeps an active branch's addon
//!   alive. No `expires_in` means the addon never expires. Its own backup schedule
//!   (`backup_every`, `backup_keep`) becomes the file's too, or none (its app's) when the
//!   file gives none. Any change is `~ update`, none is `= keep`.
//! - With `--prune`, a live addon that carries this file's scope and is not in the file is
//!   removed (`- remove`). Without it, such addons are only counted in the summary.

use std::fmt;

use serde_json::{json, Value};

use crate::backup::Schedule;
use crate::clock::rfc3339;
use crate::labels::{LabelEdit, Labels, SCOPE_LABEL};
use crate::spec::{differences, AddonSpec};

use super::file::{ApplyFile, DesiredAddon};

/// What the planner needs to know of one live (not deprovisioned) addon.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveAddon {
    pub name: String,
    pub spec: AddonSpec,
    pub labels: Labels,
    /// ms since the epoch; `None`: never.
    pub expires_at: Option<i64>,
    /// Its own backup schedule; `None`: its app's.
    pub backup_schedule: Option<Schedule>,
}

impl LiveAddon {
    /// The scope of the apply file that made it, if one did.
    pub fn scope(&self) -> Option<&str> {
        self.labels.get(SCOPE_LABEL)
    }
}

/// The flags of `apply` that change the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// `--prune`: remove live addons of this scope that the file no longer lists.
    pub prune: bool,
    /// `--replace`: deprovision and remake addons that can't change in place.
    pub replace: bool,
    /// `--adopt`: take addons made outside any apply file into the file's scope.
    pub adopt: bool,
}

/// What happens to one addon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Made as the file says, expiring at `expires_at`.
    Create { expires_at: Option<i64> },
    /// Labels set or removed, the expiry changed, and/or its own backup schedule, in place.
    Update { labels: Vec<LabelEdit>, expiry: Option<ExpiryChange>, backup: Option<ScheduleChange> },
    /// Already as the file says.
    Keep,
    /// Deprovisioned (`--prune`).
    Remove,
    /// Can't be changed in place; nothing of the apply is done while one is in the plan.
    /// `replaceable`: whether its differences are ones `--replace` resolves; `adoptable`:
    /// whether it was made outside any apply file, which `--adopt` resolves (it takes
    /// both flags when both are true).
    Conflict { differences: Vec<String>, replaceable: bool, adoptable: bool },
    /// Deprovisioned and made anew (`--replace`), expiring at `expires_at`.
    Replace { differences: Vec<String>, expires_at: Option<i64> },
}

/// An expiry before and after an update (ms since the epoch; `None`: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryChange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// An addon's own backup schedule before and after an update (`None`: its app's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleChange {
    pub from: Option<Schedule>,
    pub to: Option<Schedule>,
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLine {
    pub name: String,
    /// The file's provider and app for the addon, the live ones for a removal.
    pub provider: String,
    pub app: String,
    pub action: Action,
}

/// The whole plan: the file's addons in file order, then removals by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub lines: Vec<PlanLine>,
    /// Live addons of this scope not in the file, left alone because `--prune` was not given.
    pub unpruned: Vec<String>,
}

/// Works out the plan for `file` against the `live` addons at `now_ms`.
pub fn plan(file: &ApplyFile, live: &[LiveAddon], options: PlanOptions, now_ms: i64) -> Plan {
    let mut lines: Vec<PlanLine> =
        file.addons.iter().map(|desired| line_for(file, desired, live, options, now_ms)).collect();
    let mut strays: Vec<&LiveAddon> = live
        .iter()
        .filter(|addon| addon.scope() == Some(file.scope.as_str()) && file.addon(&addon.name).is_none())
        .collect();
    strays.sort_by(|a, b| a.name.cmp(&b.name));
    let mut unpruned = Vec::new();
    for addon in strays {
        if options.prune {
            lines.push(PlanLine {
                name: addon.name.clone(),
                provider: addon.spec.provider.clone(),
                app: addon.spec.app.clone(),
                action: Action::Remove,
            });
        } else {
            unpruned.push(addon.name.clone());
        }
    }
    Plan { lines, unpruned }
}

fn line_for(
    file: &ApplyFile,
    desired: &DesiredAddon,
    live: &[LiveAddon],
    options: PlanOptions,
    now_ms: i64,
) -> PlanLine {
    let new_expiry = desired.expires_in.map(|duration| crate::expiry::after(now_ms, duration));
    let action = match live.iter().find(|addon| addon.name == desired.name) {
        None => Action::Create { expires_at: new_expiry },
        Some(existing) => {
            let mut found = differences(&desired.spec, &existing.spec);
            let replaceable = !found.is_empty();
            match existing.scope() {
                Some(scope) if scope != file.scope => {
                    found.push(format!("scope: asked {}, belongs to the apply scope {scope}", file.scope));
                    Action::Conflict { differences: found, replaceable: false, adoptable: false }
                }
                None if !options.adopt => {
                    found.push(format!("scope: asked {}, made outside any apply file", file.scope));
                    Action::Conflict { differences: found, replaceable, adoptable: true }
                }
                _ if replaceable && options.replace => Action::Replace { differences: found, expires_at: new_expiry },
                _ if replaceable => Action::Conflict { differences: found, replaceable, adoptable: false },
                _ => {
                    let labels = existing.labels.changes_to(&desired.labels);
                    let expiry = expiry_change(desired, existing.expires_at, now_ms);
                    let backup = (desired.backup_schedule != existing.backup_schedule)
                        .then_some(ScheduleChange { from: existing.backup_schedule, to: desired.backup_schedule });
                    if labels.is_empty() && expiry.is_none() && backup.is_none() {
                        Action::Keep
                    } else {
                        Action::Update { labels, expiry, backup }
                    }
                }
            }
        }
    };
    PlanLine {
        name: desired.name.clone(),
        provider: desired.spec.provider.clone(),
        app: desired.spec.app.clone(),
        action,
    }
}

/// The expiry rule of the module's doc: renew when less than half of `expires_in` is left
/// or more than all of it; remove when the file has none.
fn expiry_change(desired: &DesiredAddon, live: Option<i64>, now_ms: i64) -> Option<ExpiryChange> {
    let to = match (desired.expires_in, live) {
        (None, None) => return None,
        (None, Some(_)) => None,
        (Some(duration), live) => Some(crate::expiry::renewal(duration, live, now_ms)?),
    };
    Some(ExpiryChange { from: live, to })
}

impl Plan {
    /// Whether carrying the plan out changes anything.
    pub fn changes_anything(&self) -> bool {
        self.lines.iter().any(|line| !matches!(line.action, Action::Keep))
    }

    /// The conflicts that stop the apply (exit 1, nothing changed).
    pub fn conflicts(&self) -> impl Iterator<Item = &PlanLine> {
        self.lines.iter().filter(|line| matches!(line.action, Action::Conflict { .. }))
    }

    /// The flags that would resolve every conflict, with what they do ("--replace to
    /// deprovision and remake them"); `None` when a conflict is beyond them (another
    /// scope's addon).
    pub fn remedy(&self) -> Option<String> {
        let mut replace = false;
        let mut adopt = false;
        for line in self.conflicts() {
            let Action::Conflict { replaceable, adoptable, .. } = line.action else { continue };
            if !replaceable && !adoptable {
                return None;
            }
            replace |= replaceable;
            adopt |= adoptable;
        }
        match (adopt, replace) {
            (true, true) => {
                Some("--adopt to take them into this scope and --replace to deprovision and remake them".into())
            }
            (true, false) => Some("--adopt to take them into this scope".into()),
            (false, true) => Some("--replace to deprovision and remake them".into()),
            (false, false) => None,
        }
    }

    /// The line after the plan: what it comes to, or that nothing needs to change.
    pub fn summary(&self, file: &ApplyFile) -> String {
        let count = |wanted: fn(&Action) -> bool| self.lines.iter().filter(|line| wanted(&line.action)).count();
        let conflicts = count(|a| matches!(a, Action::Conflict { .. }));
        let mut text = if conflicts > 0 {
            format!(
                "{}: nothing will be changed; change the file{}",
                crate::names::plural(conflicts as u64, "conflict"),
                match self.remedy() {
                    Some(flags) => format!(", or give {flags}"),
                    None => " (an addon of another scope is not replaced)".to_string(),
                }
            )
        } else if !self.changes_anything() {
            format!("Nothing to change: the live addons match {}.", file.path.display())
        } else {
            let parts = [
                (count(|a| matches!(a, Action::Create { .. })), "to create"),
                (count(|a| matches!(a, Action::Update { .. })), "to update"),
                (count(|a| matches!(a, Action::Replace { .. })), "to replace"),
                (count(|a| matches!(a, Action::Remove)), "to remove"),
                (count(|a| matches!(a, Action::Keep)), "unchanged"),
            ];
            let parts: Vec<String> =
                parts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
            format!("Plan: {}.", parts.join(", "))
        };
        if !self.unpruned.is_empty() {
            text.push_str(&format!(
                " {} of scope {} not in the file ({}): --prune would remove {}.",
                crate::names::plural(self.unpruned.len() as u64, "addon"),
                file.scope,
                self.unpruned.join(", "),
                if self.unpruned.len() == 1 { "it" } else { "them" }
            ));
        }
        text
    }

    /// The plan as a JSON array, one object per line (`"action"`: create, update, keep,
    /// remove, conflict or replace).
    pub fn to_json(&self) -> Value {
        Value::Array(self.lines.iter().map(PlanLine::to_json).collect())
    }
}

impl PlanLine {
    /// One line as JSON: `name`, `provider`, `app`, `action`, and what the action needs
    /// (times as RFC 3339 UTC, `null` for never).
    pub fn to_json(&self) -> Value {
        let time = |at: Option<i64>| at.map(rfc3339);
        let mut object = json!({ "name": self.name, "provider": self.provider, "app": self.app });
        let extra = match &self.action {
            Action::Create { expires_at } => json!({ "action": "create", "expires_at": time(*expires_at) }),
            Action::Update { labels, expiry, backup } => {
                let (set, removed) = split_edits(labels);
                let schedule = |schedule: Option<Schedule>| {
                    schedule.map(|s| json!({ "every": crate::backup::every_text(s.every), "keep": s.keep }))
                };
                json!({
                    "action": "update",
                    "labels": { "set": set, "remove": removed },
                    "expires_at": expiry.map(|change| json!({ "from": time(change.from), "to": time(change.to) })),
                    "backup": backup.map(|change| json!({ "from": schedule(change.from), "to": schedule(change.to) })),
                })
            }
            Action::Keep => json!({ "action": "keep" }),
            Action::Remove => json!({ "action": "remove" }),
            Action::Conflict { differences, replaceable, adoptable } => json!({
                "action": "conflict",
                "differences": differences,
                "replaceable": replaceable,
                "adoptable": adoptable,
            }),
            Action::Replace { differences, expires_at } => {
                json!({ "action": "replace", "differences": differences, "expires_at": time(*expires_at) })
            }
        };
        if let (Value::Object(object), Value::Object(extra)) = (&mut object, extra) {
            object.extend(extra);
        }
        object
    }
}

fn split_edits(edits: &[LabelEdit]) -> (serde_json::Map<String, Value>, Vec<&str>) {
    let mut set = serde_json::Map::new();
    let mut removed = Vec::new();
    for edit in edits {
        match edit {
            LabelEdit::Set { key, value } => {
                set.insert(key.clone(), Value::String(value.clone()));
            }
            LabelEdit::Remove { key } => removed.push(key.as_str()),
        }
    }
    (set, removed)
}

/// `+ create pr-123-db (postgres for pr-123), expires 2026-12-06T04:00:00Z` and so on: the
/// symbol, the verb, the addon, and what changes.
impl fmt::Display for PlanLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (symbol, verb) = match &self.action {
            Action::Create { .. } => ("+", "create"),
            Action::Update { .. } => ("~", "update"),
            Action::Keep => ("=", "keep"),
            Action::Remove => ("-", "remove"),
            Action::Conflict { .. } => ("!", "conflict"),
            Action::Replace { .. } => ("-/+", "replace"),
        };
        write!(f, "{symbol} {verb} {} ({} for {})", self.name, self.provider, self.app)?;
        let never_or = |at: Option<i64>| at.map_or_else(|| "never".to_string(), rfc3339);
        match &self.action {
            Action::Create { expires_at: Some(at) } => write!(f, ", expires {}", rfc3339(*at)),
            Action::Update { labels, expiry, backup } => {
                let mut parts = Vec::new();
                if !labels.is_empty() {
                    let edits: Vec<String> = labels.iter().map(ToString::to_string).collect();
                    parts.push(format!("labels {}", edits.join(" ")));
                }
                if let Some(change) = expiry {
                    parts.push(format!("expiry {} -> {}", never_or(change.from), never_or(change.to)));
                }
                if let Some(change) = backup {
                    let shown = |schedule: Option<Schedule>| {
                        schedule.map_or_else(|| "the app's".to_string(), |schedule| schedule.describe())
                    };
                    parts.push(format!("backups {} -> {}", shown(change.from), shown(change.to)));
                }
                write!(f, ": {}", parts.join("; "))
            }
            Action::Conflict { differences, replaceable, adoptable } => {
                write!(f, ": {}", differences.join("; "))?;
                match (adoptable, replaceable) {
                    (true, true) => f.write_str(" (--adopt with --replace deprovisions it and makes it anew)"),
                    (true, false) => f.write_str(" (--adopt takes it into this scope)"),
                    (false, true) => f.write_str(" (--replace deprovisions it and makes it anew)"),
                    (false, false) => Ok(()),
                }
            }
            Action::Replace { differences, expires_at } => {
                write!(f, ": {}", differences.join("; "))?;
                if let Some(at) = expires_at {
                    write!(f, ", expires {}", rfc3339(*at))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
