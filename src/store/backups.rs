//! Backups and restores in the state: one pending at a time per addon (a request is
//! refused while one is), taken up by one worker at a time through its claim (a dead
//! worker's claim expires with its lease), and their results recorded whole, in one
//! transaction, only by the worker that still holds the claim.

use std::time::Duration;

use super::base::Store;
use super::refused::Refused;
use crate::backup::{Backup, Kind, Status, MAX_ATTEMPTS};

/// How a worker's piece of work ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub status: Status,
    /// A backup's file: its size, checksum and the addon's login generation.
    pub size: Option<i64>,
    pub checksum: Option<String>,
    pub generation: Option<i64>,
    pub message: String,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// Taken up by this worker.
    Taken(Box<Backup>),
    /// Held by another worker, or no longer pending.
    Not,
    /// Its workers died [`MAX_ATTEMPTS`] times: failed for good now.
    GaveUp(Box<Backup>),
}

impl Store {
    /// Records a request for a backup or a restore, as of the state's clock; refused
    /// while another of the same addon is pending.
    pub fn request_backup(&mut self, mut backup: Backup) -> anyhow::Result<Backup> {
        let addon = backup.addon_id.clone();
        let refused = self.write_retrying(|tx| {
            tx.lock_addons(std::slice::from_ref(&addon))?;
            if let Some(busy) = tx.backups(Some(&addon))?.into_iter().find(|b| b.status == Status::Pending) {
                return Ok(Some(Refused::BackupBusy {
                    addon: backup.addon_name.clone(),
                    kind: busy.kind.as_str(),
                    id: busy.id,
                }));
            }
            backup.requested_at = tx.now()?;
            tx.put_backup(&backup)?;
            Ok(None)
        })?;
        match refused {
            Some(refused) => Err(refused.into()),
            None => Ok(backup),
        }
    }

    /// Records a scheduled backup when one is due: no backup or restore of the addon is
    /// pending, and none was scheduled within `every` of now (on the state's clock). Read
    /// and written in one transaction that holds the addon, so ticks on many hosts at
    /// once record it once. `None` when it is not due.
    pub fn request_scheduled_backup(&mut self, mut backup: Backup, every: Duration) -> anyhow::Result<Option<Backup>> {
        let addon = backup.addon_id.clone();
        self.write_retrying(|tx| {
            tx.lock_addons(std::slice::from_ref(&addon))?;
            let now = tx.now()?;
            let work = tx.backups(Some(&addon))?;
            let busy = work.iter().any(|b| b.status == Status::Pending);
            let recent = work.iter().any(|b| b.scheduled && b.requested_at > now - every.as_millis() as i64);
            if busy || recent {
                return Ok(None);
            }
            backup.requested_at = now;
            tx.put_backup(&backup)?;
            Ok(Some(backup.clone()))
        })
    }

    /// The scheduled backups of an addon beyond the newest `keep` that are done, oldest
    /// first: what retention removes.
    pub fn backups_beyond(&self, addon_id: &str, keep: usize) -> anyhow::Result<Vec<Backup>> {
        let work = self.backups_of(Some(addon_id))?;
        let done: Vec<Backup> =
            work.into_iter().filter(|b| b.scheduled && b.kind == Kind::Backup && b.status == Status::Done).collect();
        let beyond = done.len().saturating_sub(keep);
        Ok(done.into_iter().take(beyond).collect())
    }

    /// The backups and restores of an addon (of every addon with `None`), oldest first.
    pub fn backups_of(&self, addon_id: Option<&str>) -> anyhow::Result<Vec<Backup>> {
        self.read(|tx| tx.backups(addon_id))
    }

    /// One backup or restore, by id.
    pub fn find_backup(&self, id: &str) -> anyhow::Result<Option<Backup>> {
        self.read(|tx| tx.backup(id))
    }

    /// The backups and restores still pending.
    pub fn pending_backups(&self) -> anyhow::Result<Vec<Backup>> {
        self.read(|tx| tx.pending_backups())
    }

    /// Takes up pending work for `token` until `lease` from now, when no live worker
    /// holds it (`dead` says whether a holder is known to be gone before its lease ends).
    pub fn claim_backup(
        &mut self,
        id: &str,
        token: &str,
        lease: Duration,
        dead: impl Fn(&str) -> bool,
    ) -> anyhow::Result<Claimed> {
        self.write_retrying(|tx| {
            let Some(mut backup) = tx.backup(id)? else { return Ok(Claimed::Not) };
            let now = tx.now()?;
            let held = !backup.free_at(now) && backup.claim.as_deref().is_some_and(|holder| !dead(holder));
            if backup.status != Status::Pending || held || backup.claim.as_deref() == Some(token) {
                return Ok(Claimed::Not);
            }
            if backup.attempts >= MAX_ATTEMPTS {
                backup.status = Status::Failed;
                backup.finished_at = Some(now);
                backup.claim = None;
                backup.claim_until = None;
                backup.message = format!("its workers stopped {MAX_ATTEMPTS} times before it was done");
                tx.put_backup(&backup)?;
                return Ok(Claimed::GaveUp(Box::new(backup)));
            }
            backup.claim = Some(token.to_string());
            backup.claim_until = Some(now + lease.as_millis() as i64);
            backup.attempts += 1;
            tx.put_backup(&backup)?;
            Ok(Claimed::Taken(Box::new(backup)))
        })
    }

    /// Renews `token`'s claim on the work for another `lease`; `false` when it lost it.
    pub fn renew_backup_claim(&mut self, id: &str, token: &str, lease: Duration) -> anyhow::Result<bool> {
        self.write_retrying(|tx| {
            let Some(mut backup) = tx.backup(id)? else { return Ok(false) };
            if backup.status != Status::Pending || backup.claim.as_deref() != Some(token) {
                return Ok(false);
            }
            backup.claim_until = Some(tx.now()? + lease.as_millis() as i64);
            tx.put_backup(&backup)?;
            Ok(true)
        })
    }

    /// Records how the work ended, in one transaction, if `token` still holds it;
    /// `false` (nothing written) when it does not.
    pub fn finish_backup(&mut self, id: &str, token: &str, finished: &Finished) -> anyhow::Result<bool> {
        self.write_retrying(|tx| {
            let Some(mut backup) = tx.backup(id)? else { return Ok(false) };
            if backup.status != Status::Pending || backup.claim.as_deref() != Some(token) {
                return Ok(false);
            }
            backup.status = finished.status;
            backup.size = finished.size;
            backup.checksum = finished.checksum.clone().or(backup.checksum);
            backup.generation = finished.generation.or(backup.generation);
            backup.message = finished.message.clone();
            backup.finished_at = Some(tx.now()?);
            backup.claim = None;
            backup.claim_until = None;
            tx.put_backup(&backup)?;
            Ok(true)
        })
    }

    /// Removes a backup's row (its file is removed first, by the engine).
    pub fn forget_backup(&mut self, id: &str) -> anyhow::Result<()> {
        self.write_retrying(|tx| tx.delete_backup(id))
    }
}
