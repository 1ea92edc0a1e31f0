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
