//! A backup of an addon's data, and the work on one (making it, restoring it), as plain
//! data: one row per piece of work, requested in the state, done by a background worker
//! that holds its claim, and recorded whole in one transaction at its end.

/// What a piece of backup work does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Makes a backup file of the addon's data.
    Backup,
    /// Replaces the addon's data with a backup's.
    Restore,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Backup => "backup",
            Kind::Restore => "restore",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "backup" => Some(Kind::Backup),
            "restore" => Some(Kind::Restore),
            _ => None,
        }
    }
}

/// Where a piece of backup work stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Requested, or at work (a claim says by whom); a dead worker's claim expires.
    Pending,
    /// Finished: a backup's file is whole and its size and checksum recorded.
    Done,
    /// Ended without its result; the message says why.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "pending" => Some(Status::Pending),
            "done" => Some(Status::Done),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// One backup, or one restore of a backup: a row of the `backups` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Generated, as an addon's id: what `addons restore` names.
    pub id: String,
    pub addon_id: String,
    /// The addon's name when the work was requested (the addon may be gone since).
    pub addon_name: String,
    pub provider: String,
    pub kind: Kind,
    /// A restore's backup (its id); `None` for a backup.
    pub source: Option<String>,
    /// The backup file (a restore's: the file it reads).
    pub file: String,
    pub status: Status,
    /// The file's size in bytes, once whole.
    pub size: Option<i64>,
    /// The file's SHA-256 (hex), once whole; a restore's is the one it expects.
    pub checksum: Option<String>,
    /// The generation of the addon's own login when the backup was made.
    pub generation: Option<i64>,
    /// When it was requested (ms).
    pub requested_at: i64,
    /// When it was done or failed (ms).
    pub finished_at: Option<i64>,
    /// The worker holding it (`host:boot:pid:random`) and until when (ms).
    pub claim: Option<String>,
    pub claim_until: Option<i64>,
    /// How many workers took it up.
    pub attempts: i64,
    /// What its worker said last.
    pub message: String,
    /// Whether a schedule asked for it (not a person).
    pub scheduled: bool,
}

impl Backup {
    /// Work of `kind` to request (pending, unclaimed, nothing recorded yet) on the addon
    /// `of` (its id, name and provider), its id `id` and its file `file`.
    pub fn request(of: [&str; 3], kind: Kind, id: String, file: String) -> Backup {
        let [addon_id, addon_name, provider] = of.map(str::to_string);
        Backup {
            id,
            addon_id,
            addon_name,
            provider,
            kind,
            source: None,
            file,
            status: Status::Pending,
            size: None,
            checksum: None,
            generation: None,
            requested_at: 0,
            finished_at: None,
            claim: None,
            claim_until: None,
            attempts: 0,
            message: String::new(),
            scheduled: false,
        }
    }

    /// Whether a worker may take it up at `now`: pending and held by no live claim.
    pub fn free_at(&self, now: i64) -> bool {
        self.status == Status::Pending && self.claim_until.is_none_or(|until| until < now)
    }

    /// The file a backup is written to until it is whole.
    pub fn partial_file(&self) -> String {
        format!("{}.partial", self.file)
    }
}

/// How an addon made from a backup (`provision --from-backup`) names it in its
/// `source_id`: `backup:<backup id>` (an addon copied from another holds that one's id).
pub const SOURCE_PREFIX: &str = "backup:";

/// The backup an addon's `source_id` names, if it names one.
pub fn backup_source(source_id: &str) -> Option<&str> {
    source_id.strip_prefix(SOURCE_PREFIX)
}

/// How many times workers may take up a piece of work before it fails for good (each
/// one that died left it pending).
pub const MAX_ATTEMPTS: i64 = 3;

/// An addon's own backup schedule (an apply file's `backup_every` and `backup_keep`),
/// which takes the place of its app's (`[apps.NAME]`) as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How often ticks back it up.
    pub every: std::time::Duration,
    /// How many of its scheduled backups are kept (the oldest go); `None`: all.
    pub keep: Option<usize>,
}

impl Schedule {
    /// `every 1d, keep 7` (or `keep all`): how a plan shows it.
    pub fn describe(&self) -> String {
        let keep = self.keep.map_or_else(|| "all".to_string(), |keep| keep.to_string());
        format!("every {}, keep {keep}", every_text(self.every))
    }
}

/// A schedule's interval the way it is written (`1d`, `12h`, `30m`, `90s`, `1500ms`):
/// the largest unit it is a whole number of.
pub fn every_text(every: std::time::Duration) -> String {
    let ms = every.as_millis();
    [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")]
        .into_iter()
        .find(|(unit, _)| ms.is_multiple_of(*unit))
        .map_or_else(|| format!("{ms}ms"), |(unit, name)| format!("{}{name}", ms / unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_interval_is_written_in_its_largest_whole_unit() {
        for (ms, text) in [(86_400_000, "1d"), (7_200_000, "2h"), (90_000, "90s"), (60_000, "1m"), (1500, "1500ms")] {
            assert_eq!(every_text(Duration::from_millis(ms)), text);
        }
        let schedule = Schedule { every: Duration::from_secs(86_400), keep: Some(7) };
        assert_eq!(schedule.describe(), "every 1d, keep 7");
        assert_eq!(Schedule { keep: None, ..schedule }.describe(), "every 1d, keep all");
    }
}
