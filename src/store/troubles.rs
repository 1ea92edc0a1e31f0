//! Trouble that keeps on: a step that goes on failing (an addon's provision, cleanup,
//! rotation, revocation, attach, or an app's `on_change` hook) is said by `tick` once it
//! has failed for `engine.warn_after`, again at most every `engine.warn_every` while it
//! goes on, and once more when it stops failing, so that cron mails a line at the start
//! of trouble, none in between, and one at its end. What was said is kept in the state
//! (`troubles`), so ticks on many hosts say it once between them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::backend::Trouble;
use super::base::Store;
use crate::addon::Addon;

/// What is failing.
#[derive(Debug, Clone)]
pub enum Failing {
    /// An addon's current task (its error kept in `last_error`).
    Addon(Box<Addon>),
    /// An app's `on_change` hook, for its current vars.
    Hook(String),
    /// An addon's scheduled backups: the latest one failed.
    Backup(Box<crate::backup::Backup>),
}

impl Failing {
    fn subject(&self) -> String {
        match self {
            Failing::Addon(addon) => format!("addon:{}", addon.id),
            Failing::Hook(app) => format!("hook:{app}"),
            Failing::Backup(backup) => format!("backup:{}", backup.addon_id),
        }
    }
}

/// What a tick has to say of trouble.
#[derive(Debug, Clone)]
pub enum TroubleNews {
    /// It has been failing since `since` (ms), and was not said for long enough.
    Failing { what: Failing, since: i64 },
    /// It was said to fail, and fails no more; `what` as it is now (an addon may have
    /// ended in error meanwhile), `None` when the state no longer has it.
    Over { what: Option<Failing>, subject: String, since: i64 },
}

impl Trouble {
    /// Whether a tick at `now` says it (again): failing for `after`, and not said
    /// within `every`.
    pub fn to_say(&self, now: i64, after: Duration, every: Duration) -> bool {
        now - self.since >= after.as_millis() as i64
            && self.warned_at.is_none_or(|warned| now - warned >= every.as_millis() as i64)
    }
}

impl Store {
    /// Brings the record of trouble up to date with what fails now, and returns what a
    /// tick should say of it. `said` are the apps whose hook failure this tick reported
    /// already (a hook's first failure for a change is said at once): they count as said now.
    pub fn news_of_trouble(
        &mut self,
        after: Duration,
        every: Duration,
        said: &[String],
    ) -> anyhow::Result<Vec<TroubleNews>> {
        // What fails, read without locking what other ticks work on.
        let (addons, hooks, backups, known) =
            self.read(|tx| Ok((tx.failing_addons()?, tx.failing_hooks()?, tx.failing_backups()?, tx.troubles()?)))?;
        let mut failing: BTreeMap<String, Failing> = addons
            .into_iter()
            .map(|addon| Failing::Addon(Box::new(addon)))
            .chain(hooks.into_iter().map(Failing::Hook))
            .chain(backups.into_iter().map(|backup| Failing::Backup(Box::new(backup))))
            .map(|what| (what.subject(), what))
            .collect();
        // Nothing failing and nothing said: an idle cron tick writes nothing.
        if failing.is_empty() && known.is_empty() {
            return Ok(Vec::new());
        }
        // An addon that stopped failing, as it is now, for the line that says so.
        let mut over: BTreeMap<String, Failing> = BTreeMap::new();
        for trouble in known.iter().filter(|trouble| trouble.warned_at.is_some()) {
            if let Some(id) = trouble.subject.strip_prefix("addon:").filter(|_| !failing.contains_key(&trouble.subject))
            {
                if let Some(addon) = self.read(|tx| tx.addon(id))? {
                    over.insert(trouble.subject.clone(), Failing::Addon(Box::new(addon)));
                }
            }
        }
        self.write(|tx| {
            let now = tx.now()?;
            let mut news = Vec::new();
            // Locked: a tick on another host waits here, then sees what this one wrote.
            for trouble in tx.troubles()? {
                match failing.remove(&trouble.subject) {
                    None => {
                        tx.drop_trouble(&trouble.subject)?;
                        if trouble.warned_at.is_some() {
                            let what = over.remove(&trouble.subject).or_else(|| {
                                trouble.subject.strip_prefix("hook:").map(|app| Failing::Hook(app.to_string()))
                            });
                            news.push(TroubleNews::Over { what, subject: trouble.subject, since: trouble.since });
                        }
                    }
                    Some(what) => {
                        if let Some(told) = tell(&what, &trouble, now, after, every, said) {
                            tx.put_trouble(&told)?;
                            if !is_said_hook(&what, said) {
                                news.push(TroubleNews::Failing { what, since: trouble.since });
                            }
                        }
                    }
                }
            }
            for (subject, what) in failing.iter() {
                let new = Trouble { subject: subject.clone(), since: now, warned_at: None };
                let told = tell(what, &new, now, after, every, said).unwrap_or(new);
                tx.put_trouble(&told)?;
            }
            Ok(news)
        })
    }
}

/// The trouble once said, when a tick at `now` says it (or said it already: a hook's
/// first failure).
fn tell(
    what: &Failing,
    trouble: &Trouble,
    now: i64,
    after: Duration,
    every: Duration,
    said: &[String],
) -> Option<Trouble> {
    (is_said_hook(what, said) || trouble.to_say(now, after, every))
        .then(|| Trouble { warned_at: Some(now), ..trouble.clone() })
}

fn is_said_hook(what: &Failing, said: &[String]) -> bool {
    matches!(what, Failing::Hook(app) if said.contains(app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trouble_is_said_after_a_while_then_at_most_every_so_often() {
        let (after, every) = (Duration::from_secs(300), Duration::from_secs(3600));
        let trouble = Trouble { subject: "addon:a".into(), since: 0, warned_at: None };
        assert!(!trouble.to_say(299_999, after, every), "before warn_after");
        assert!(trouble.to_say(300_000, after, every));
        let said = Trouble { warned_at: Some(300_000), ..trouble };
        assert!(!said.to_say(300_000 + 3_599_999, after, every), "said again within warn_every");
        assert!(said.to_say(300_000 + 3_600_000, after, every));
    }
}
