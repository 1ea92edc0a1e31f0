//! Backups and restores as services: a request is recorded in the state, and a
//! background worker (`addons __backup`, its own process group, started by the command
//! or by a tick, never run inside a tick) takes it up through its claim, which it
//! renews while it works; the result is recorded in one transaction at the end. A
//! backup's file is written beside its final name and renamed once whole; a file a dead
//! worker left is removed by the next one, which starts over.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::base::Engine;
use super::claim::is_dead_holder;
use super::step::fail;
use crate::addon::Addon;
use crate::backup::{Backup, Kind, Schedule, Status};
use crate::credential::Credential;
use crate::error::{failed, usage};
use crate::machine::State;
use crate::store::{Apply, BackendKind, Claimed, Finished, Scan, Store};

/// How a worker's piece of work ended, for the command that waits on it.
pub type Ended = Backup;

impl Engine {
    /// Where backup files go: `[backups] dir`, else `backups` beside the state file. A
    /// state on a PostgreSQL server is shared by hosts, so it needs a folder they all
    /// share, named in the config.
    pub fn backups_dir(&self, store: &Store) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.settings.backups_dir {
            return Ok(dir.clone());
        }
        match store.kind() {
            BackendKind::Postgres => Err(usage(format!(
                "the state is on a PostgreSQL server, shared by hosts, so backups need a folder they all share: \
                 add to {} the lines\n\n[backups]\ndir = \"/shared/addons-backups\"\n",
                self.settings.path.display()
            ))),
            _ => Ok(self.env.data_dir.join("backups")),
        }
    }

    /// Checks that `addon` can be backed up now: live and ready, of a provider that
    /// backs up (else its reason), on the server it was made on.
    pub fn check_backup(&self, addon: &Addon) -> anyhow::Result<()> {
        let provider = self.provider_on(&addon.provider, super::server::server_name(addon)).map_err(failed)?;
        if let Err(why) = provider.backer() {
            return Err(usage(format!("{} can't be backed up: {why}", addon.name)));
        }
        if addon.state != State::Ready {
            return Err(failed(format!(
                "{} is {}; only a ready addon is backed up or restored ('addons wait {}' first)",
                addon.name, addon.state, addon.name
            )));
        }
        self.check_bound(addon)
    }

    /// Whether the addons of `provider` on its server `server` can be backed up, as a
    /// schedule of one of them needs: `Ok(Err(why))` when its provider has no backups;
    /// `Err` when it can't be built (not configured: the lines to add).
    pub fn backs_up(&self, provider: &str, server: &str) -> Result<Result<(), String>, String> {
        let built = self.provider_on(provider, server)?;
        Ok(built.backer().map(drop).map_err(|why| why.to_string()))
    }

    /// Records a backup of `addon` and starts its worker: the backup as recorded.
    pub fn request_backup(&self, store: &mut Store, addon: &Addon, scheduled: bool) -> anyhow::Result<Backup> {
        self.check_backup(addon)?;
        let provider = self.provider_on(&addon.provider, super::server::server_name(addon)).map_err(failed)?;
        let suffix = provider.backer().map_err(|why| failed(why.to_string()))?.backup_suffix();
        let backup = new_backup(addon, &self.backups_dir(store)?, suffix, scheduled);
        let backup = store.request_backup(backup)?;
        self.start_backup_worker(&backup)?;
        Ok(backup)
    }

    /// Records a restore of `backup` into `addon` and starts its worker. A backup whose
    /// file no longer has the checksum recorded is refused, with nothing recorded.
    pub fn request_restore(&self, store: &mut Store, addon: &Addon, backup: &Backup) -> anyhow::Result<Backup> {
        self.check_backup(addon)?;
        if backup.kind != Kind::Backup || backup.status != Status::Done {
            return Err(usage(format!("{} is not a finished backup; 'addons backups' lists them", backup.id)));
        }
        if backup.provider != addon.provider {
            return Err(usage(format!(
                "backup {} is of a {} addon, and {} is a {} addon",
                backup.id, backup.provider, addon.name, addon.provider
            )));
        }
        check_file(backup).map_err(failed)?;
        let restore = store.request_backup(restore_of(addon, backup))?;
        self.start_backup_worker(&restore)?;
        Ok(restore)
    }

    /// The restore step of an addon made with `provision --from-backup`, run by a tick
    /// once its resource is made: `Ok(what the worker said)` once the backup's data is
    /// in, else `Err(what to commit)`: wait for the worker (started here when none is at
    /// work), or fail.
    pub(super) fn restoring(
        &self,
        store: &mut Store,
        addon: &Addon,
        backup_id: &str,
    ) -> anyhow::Result<Result<String, Apply>> {
        let work = store.backups_of(Some(&addon.id))?;
        let restore = work.into_iter().rev().find(|restore| restore.source.as_deref() == Some(backup_id));
        let restore = match restore {
            Some(restore) if restore.status == Status::Done => return Ok(Ok(restore.message)),
            Some(restore) if restore.status == Status::Failed => {
                return Ok(Err(fail(format!("the restore of backup {backup_id} failed: {}", restore.message))))
            }
            Some(restore) => {
                let dead = restore.claim.as_deref().is_some_and(is_dead_holder);
                if restore.free_at(store.now()?) || dead {
                    self.start_backup_worker(&restore)?;
                }
                restore
            }
            None => {
                let backup =
                    store.find_backup(backup_id)?.filter(|b| b.kind == Kind::Backup && b.status == Status::Done);
                let Some(backup) = backup else {
                    return Ok(Err(fail(format!(
                        "backup {backup_id} is gone; 'addons backups' lists those there are"
                    ))));
                };
                if let Err(why) = check_file(&backup) {
                    return Ok(Err(fail(why)));
                }
                let restore = store.request_backup(restore_of(addon, &backup))?;
                self.start_backup_worker(&restore)?;
                restore
            }
        };
        let due_at = self.now() + RESTORE_POLL.as_millis() as i64;
        if due_at > addon.deadline_at {
            return Ok(Err(fail(format!(
                "the restore of backup {} did not finish within the provision timeout",
                restore.source.unwrap_or_default()
            ))));
        }
        let message = format!("restoring backup {backup_id}");
        Ok(Err(Apply::Retry { due_at, message, error: None }))
    }

    /// Checks that `backup_id` names a whole backup of `provider`'s that can be restored
    /// into a new addon (`provision --from-backup`), before anything is made.
    pub fn check_backup_source(&self, store: &Store, provider: &str, backup_id: &str) -> anyhow::Result<String> {
        let backup = store
            .find_backup(backup_id)?
            .filter(|backup| backup.kind == Kind::Backup && backup.status == Status::Done)
            .ok_or_else(|| {
                usage(format!("no backup {}; 'addons backups' lists them", crate::names::shown(backup_id)))
            })?;
        if backup.provider != provider {
            return Err(usage(format!(
                "backup {} is of a {} addon, not {provider}: provision {} --from-backup {}",
                backup.id, backup.provider, backup.provider, backup.id
            )));
        }
        let built = self.provider(provider).map_err(usage)?;
        built.backer().map_err(|why| usage(why.to_string()))?;
        check_file(&backup).map_err(failed)?;
        Ok(format!("{}{}", crate::backup::SOURCE_PREFIX, backup.id))
    }

    /// The backup schedules, as a tick runs them: each ready addon (that can be backed
    /// up) with a schedule, its own (an apply file's) or else its app's in the config,
    /// gets a backup when one is due, recorded once however many ticks on however many
    /// hosts ask, its worker started (never run here); then its scheduled backups beyond
    /// that schedule's `keep` go, oldest first, file and record. How many backups it
    /// asked for.
    pub fn run_schedules(&self, store: &mut Store) -> anyhow::Result<usize> {
        let mut due: Vec<(Addon, Schedule)> = Vec::new();
        for (app, settings) in &self.settings.apps {
            let Some(schedule) = settings.backup_schedule() else { continue };
            // An addon with a schedule of its own follows that one alone (below).
            let addons = store.list_addons(Some(app), false)?.into_iter();
            due.extend(
                addons.filter(|addon| addon.app == *app && addon.backup_schedule.is_none()).map(|a| (a, schedule)),
            );
        }
        let own = Scan { app: None, all: false, labels: &[], expired_by: None, own_schedule: true };
        store.for_each_addon(&own, |addon| {
            if let Some(schedule) = addon.backup_schedule {
                due.push((addon, schedule));
            }
            Ok(())
        })?;
        let mut asked = 0;
        for (addon, schedule) in due {
            if addon.state != State::Ready {
                continue;
            }
            let Ok(provider) = self.provider_on(&addon.provider, super::server::server_name(&addon)) else {
                continue;
            };
            let Ok(backer) = provider.backer() else { continue };
            let backup = new_backup(&addon, &self.backups_dir(store)?, backer.backup_suffix(), true);
            if let Some(backup) = store.request_scheduled_backup(backup, schedule.every)? {
                self.start_backup_worker(&backup)?;
                asked += 1;
            }
            self.prune(store, &addon)?;
        }
        Ok(asked)
    }

    /// The backup schedule `addon` follows: its own, else its app's, if either.
    pub fn schedule_of(&self, addon: &Addon) -> Option<Schedule> {
        addon.backup_schedule.or_else(|| self.settings.apps.get(&addon.app).and_then(|app| app.backup_schedule()))
    }

    /// Removes the scheduled backups of `addon` beyond the `keep` of the schedule it
    /// follows, oldest first, file then record: a tick does, and the worker of a
    /// scheduled backup once it recorded it, so the set is right as soon as a new one
    /// is there. Only its scheduled backups count; those made by hand stay.
    fn prune(&self, store: &mut Store, addon: &Addon) -> anyhow::Result<()> {
        let Some(keep) = self.schedule_of(addon).and_then(|schedule| schedule.keep) else {
            return Ok(());
        };
        for old in store.backups_beyond(&addon.id, keep)? {
            remove_quietly(Path::new(&old.file));
            store.forget_backup(&old.id)?;
        }
        Ok(())
    }

    /// Starts the worker of every pending backup or restore that no live worker holds
    /// (a request whose starter died, a worker that died): what a tick does, without
    /// running any of them itself. How many it started.
    pub fn start_due_backups(&self, store: &Store) -> anyhow::Result<usize> {
        let pending = store.pending_backups()?;
        if pending.is_empty() {
            return Ok(0);
        }
        let now = store.now()?;
        let mut started = 0;
        for backup in pending {
            let dead = backup.claim.as_deref().is_some_and(is_dead_holder);
            if (backup.free_at(now) || dead) && self.start_backup_worker(&backup).is_ok() {
                started += 1;
            }
        }
        Ok(started)
    }

    /// Where the worker of `id` writes its errors (removed once it is done).
    fn backup_log(&self, id: &str) -> PathBuf {
        self.env.data_dir.join("backup-logs").join(format!("{id}.log"))
    }

    /// Starts `addons __backup ID` in its own process group, detached: it outlives the
    /// command or tick that started it. Its stderr goes to a log beside the backups.
    fn start_backup_worker(&self, backup: &Backup) -> anyhow::Result<()> {
        self.start_worker(&["__backup", &backup.id], &self.backup_log(&backup.id), false)
            .map_err(|err| failed(format!("can't start the backup worker: {err}")))
    }

    /// The worker's work (`addons __backup ID`): takes the backup or restore up (none
    /// when another worker holds it, or it is done), does it while renewing its claim,
    /// and records how it ended. What it recorded, if it did.
    pub fn run_backup_worker(&self, store: &mut Store, id: &str) -> anyhow::Result<Option<Ended>> {
        crate::failpoint!("backup-worker-start");
        let lease = self.lease();
        let backup = match store.claim_backup(id, &self.token, lease, is_dead_holder)? {
            Claimed::Taken(backup) => *backup,
            Claimed::Not => return Ok(None),
            Claimed::GaveUp(backup) => {
                if backup.kind == Kind::Backup {
                    remove_quietly(Path::new(&backup.partial_file()));
                    remove_quietly(Path::new(&backup.file));
                }
                return Ok(Some(*backup));
            }
        };
        crate::provider_call!(backup.kind.as_str(), &backup.id);
        let stop = Arc::new(AtomicBool::new(false));
        let renewer = self.renew_while_working(store, &backup.id, stop.clone())?;
        let finished = self.work_on(store, &backup);
        stop.store(true, Ordering::SeqCst);
        let _ = renewer.join();
        let finished = finished.unwrap_or_else(|err| Finished {
            status: Status::Failed,
            size: None,
            checksum: None,
            generation: None,
            message: format!("{err:#}"),
        });
        if finished.status == Status::Done {
            crate::failpoint!(match backup.kind {
                Kind::Backup => "backup-before-record",
                Kind::Restore => "restore-before-record",
            });
        }
        let recorded = store.finish_backup(&backup.id, &self.token, &finished)?;
        if backup.kind == Kind::Backup && (!recorded || finished.status != Status::Done) {
            remove_quietly(Path::new(&backup.file));
        }
        if recorded && finished.status == Status::Done {
            remove_quietly(&self.backup_log(&backup.id));
            if backup.scheduled {
                if let Some(addon) = store.find_addon(&backup.addon_id)? {
                    self.prune(store, &addon)?;
                }
            }
        }
        match recorded {
            true => Ok(store.find_backup(&backup.id)?),
            false => Ok(None),
        }
    }

    /// Renews the worker's claim every third of its lease, on a connection of its own,
    /// until `stop`.
    fn renew_while_working(
        &self,
        store: &Store,
        id: &str,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<std::thread::JoinHandle<()>> {
        let mut renewing = store.reopen()?;
        let (id, token, lease) = (id.to_string(), self.token.clone(), self.lease());
        Ok(std::thread::spawn(move || {
            let every = (lease / 3).max(Duration::from_millis(100));
            let mut waited = Duration::ZERO;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                waited += Duration::from_millis(50);
                if waited >= every {
                    waited = Duration::ZERO;
                    let _ = renewing.renew_backup_claim(&id, &token, lease);
                }
            }
        }))
    }

    /// Makes the backup or the restore; how it ended.
    fn work_on(&self, store: &mut Store, backup: &Backup) -> anyhow::Result<Finished> {
        // A ready addon, or one being made from this very backup.
        let made_from = |addon: &Addon| addon.state == State::WaitingForProvision && addon.backup_source().is_some();
        let addon = store
            .find_addon(&backup.addon_id)?
            .filter(|addon| {
                addon.state == State::Ready || made_from(addon) && backup.source.as_deref() == addon.backup_source()
            })
            .ok_or_else(|| failed(format!("{} is no longer ready", backup.addon_name)))?;
        let provider = self.provider_of(store, &addon).map_err(|why| match why {
            super::server::Unbound::NotBuilt(line) | super::server::Unbound::Elsewhere(line) => failed(line),
            super::server::Unbound::Unknown(err) => failed(err.to_string()),
        })?;
        let backer = provider.backer().map_err(|why| failed(why.to_string()))?;
        let done = |message: String, size, checksum, generation| Finished {
            status: Status::Done,
            size,
            checksum,
            generation,
            message,
        };
        match backup.kind {
            Kind::Backup => {
                let (file, partial) = (PathBuf::from(&backup.file), PathBuf::from(backup.partial_file()));
                // What a dead worker left is not trusted: this one starts over.
                remove_quietly(&partial);
                remove_quietly(&file);
                if let Some(dir) = file.parent() {
                    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
                        .create(dir)
                        .map_err(|err| failed(format!("can't make {}: {err}", dir.display())))?;
                }
                let said = backer.backup(addon.resource(), &partial);
                let said = match said {
                    Ok(said) => said,
                    Err(err) => {
                        remove_quietly(&partial);
                        return Err(failed(err.to_string()));
                    }
                };
                let (size, checksum) = sum_file(&partial).map_err(|err| failed(err.to_string()))?;
                std::fs::rename(&partial, &file).map_err(|err| failed(format!("can't rename the backup: {err}")))?;
                if let Some(dir) = file.parent() {
                    let _ = std::fs::File::open(dir).and_then(|dir| dir.sync_all());
                }
                let generation = i64::from(addon.login.vars_generation.unwrap_or(addon.login.generation));
                Ok(done(said, Some(size as i64), Some(checksum), Some(generation)))
            }
            Kind::Restore => {
                check_file(backup).map_err(failed)?;
                let login = Credential::new(0, addon.login.vars_generation.unwrap_or(addon.login.generation));
                let said = backer
                    .restore(addon.resource(), login, Path::new(&backup.file))
                    .map_err(|why| failed(why.to_string()))?;
                Ok(done(said, backup.size, backup.checksum.clone(), None))
            }
        }
    }
}

/// A backup of `addon` to request, its file in `dir`.
fn new_backup(addon: &Addon, dir: &Path, suffix: &str, scheduled: bool) -> Backup {
    let id = crate::names::generate_addon_id();
    let file = dir.join(&addon.id).join(format!("{id}.{suffix}"));
    Backup { scheduled, ..Backup::request(of(addon), Kind::Backup, id, file.display().to_string()) }
}

/// How soon a tick looks again at a restore into a new addon.
const RESTORE_POLL: Duration = Duration::from_millis(200);

/// The restore of `backup` into `addon`, to request.
fn restore_of(addon: &Addon, backup: &Backup) -> Backup {
    Backup {
        source: Some(backup.id.clone()),
        size: backup.size,
        checksum: backup.checksum.clone(),
        ..Backup::request(of(addon), Kind::Restore, crate::names::generate_addon_id(), backup.file.clone())
    }
}

/// The addon a backup is of, as its record names it: id, name, provider.
fn of(addon: &Addon) -> [&str; 3] {
    [&addon.id, &addon.name, &addon.provider]
}

/// The size and SHA-256 (hex) of a file.
fn sum_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((size, hex(&hasher.finalize())))
}

/// Checks that a backup's file is there with the checksum recorded: a backup changed
/// or damaged since is never restored.
fn check_file(backup: &Backup) -> Result<(), String> {
    let id = backup.source.as_deref().unwrap_or(&backup.id);
    let (_, checksum) = sum_file(Path::new(&backup.file))
        .map_err(|err| format!("can't read the file of backup {id} ({}): {err}", backup.file))?;
    match backup.checksum.as_deref() {
        Some(recorded) if recorded == checksum => Ok(()),
        _ => Err(format!(
            "the file of backup {id} ({}) does not have the checksum recorded when it was made: it was changed or \
             damaged since, so it is not restored",
            backup.file
        )),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Removes a file that may not be there.
fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}
