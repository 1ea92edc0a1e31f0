//! The changes of one `apply` in one transaction: the live addons read, the changes
//! worked out from them (by the caller: the plan), every one made, or none. A change
//! that another writer overtook between the read and the write (a name or var taken,
//! an addon changed meanwhile) runs the whole transaction again, from a new read.

use super::addons::{deprovision, insert, NewAddon, NotInserted};
use super::backend::{StoreError, Txn};
use super::base::{Store, COLLISION_TRIES};
use super::marks::expire_at;
use super::refused::StepError;
use super::refused::{Holder, Refused};
use crate::addon::Addon;
use crate::backup::Schedule;
use crate::labels::Labels;

/// One change an apply makes, worked out from the live addons it was shown.
#[derive(Debug, Clone)]
pub enum ApplyChange {
    /// A new addon, made as `provision` makes one.
    Create(NewAddon),
    /// A live addon's labels, expiry (ms since the epoch; `None`: never) and own backup
    /// schedule (`None`: its app's) set.
    Update { id: String, labels: Labels, expires_at: Option<i64>, backup_schedule: Option<Schedule> },
    /// A live addon deprovisioned (`--prune`).
    Remove { id: String },
    /// A live addon deprovisioned and a new one made in its place (`--replace`).
    Replace { old: String, new: NewAddon },
}

/// An addon an apply made or changed.
#[derive(Debug, Clone)]
pub struct Applied {
    pub addon: Addon,
    /// Made by this apply: its provider's `begin_provision` is still to be called.
    pub created: bool,
}

/// Why one try of the transaction ended without a commit.
enum Undone {
    /// Another writer overtook a change: try again from a new read.
    Meanwhile,
    /// The apply fails, nothing changed.
    Failed(anyhow::Error),
}

impl From<StoreError> for Undone {
    fn from(err: StoreError) -> Undone {
        match err {
            StoreError::Conflict(_) | StoreError::Collision(_) => Undone::Meanwhile,
            err => Undone::Failed(err.into()),
        }
    }
}

impl From<StepError> for Undone {
    fn from(err: StepError) -> Undone {
        match err {
            StepError::Store(err) => err.into(),
            err => Undone::Failed(err.into()),
        }
    }
}

impl From<anyhow::Error> for Undone {
    fn from(err: anyhow::Error) -> Undone {
        Undone::Failed(err)
    }
}

impl Store {
    /// Makes the changes `decide` works out from the live addons and the state's clock,
    /// all in one transaction: an error from `decide` or from any change leaves the
    /// state as it was. Used by `addons apply`.
    pub fn apply_changes(
        &mut self,
        mut decide: impl FnMut(&[Addon], i64) -> anyhow::Result<Vec<ApplyChange>>,
    ) -> anyhow::Result<Vec<Applied>> {
        self.acting()?;
        for _ in 0..COLLISION_TRIES {
            let attempt = (|| {
                let mut tx = self.backend.get_mut().write()?;
                let applied = apply_in(&mut *tx, &mut decide)?;
                tx.commit()?;
                Ok(applied)
            })();
            match attempt {
                Ok(applied) => return Ok(applied),
                Err(Undone::Failed(err)) => return Err(err),
                Err(Undone::Meanwhile) => continue,
            }
        }
        Err(Refused::KeptChanging.into())
    }
}

/// One try: read, decide, change.
fn apply_in(
    tx: &mut dyn Txn,
    decide: &mut impl FnMut(&[Addon], i64) -> anyhow::Result<Vec<ApplyChange>>,
) -> Result<Vec<Applied>, Undone> {
    let now = tx.now()?;
    let live = tx.list_addons(None, false)?;
    let changes = decide(&live, now)?;
    // Addons before apps, as every writer locks them.
    let mut changed: Vec<String> = changes
        .iter()
        .filter_map(|change| match change {
            ApplyChange::Create(_) => None,
            ApplyChange::Update { id, .. } | ApplyChange::Remove { id } | ApplyChange::Replace { old: id, .. } => {
                Some(id.clone())
            }
        })
        .collect();
    changed.sort();
    tx.lock_addons(&changed)?;
    let mut applied = Vec::new();
    for change in changes {
        match change {
            ApplyChange::Create(new) => {
                let addon = create(tx, &new, &live, &applied)?;
                applied.push(Applied { addon, created: true });
            }
            ApplyChange::Replace { old, new } => {
                let mut addon = as_read(tx, &live, &old)?;
                deprovision(tx, &mut addon, now)?;
                let addon = create(tx, &new, &live, &applied)?;
                applied.push(Applied { addon, created: true });
            }
            ApplyChange::Update { id, labels, expires_at, backup_schedule } => {
                let mut addon = as_read(tx, &live, &id)?;
                addon.labels = labels;
                expire_at(&mut addon, expires_at);
                addon.backup_schedule = backup_schedule;
                addon.updated_at = now;
                tx.update_addon(&addon)?;
                applied.push(Applied { addon, created: false });
            }
            ApplyChange::Remove { id } => {
                let mut addon = as_read(tx, &live, &id)?;
                deprovision(tx, &mut addon, now)?;
                applied.push(Applied { addon, created: false });
            }
        }
    }
    Ok(applied)
}

/// Makes a new addon; a name not free as read (or it would not be made), or a var held
/// by an addon neither the read (`live`) nor this apply (`applied`) showed, was taken
/// meanwhile: another writer committed between the read and this statement, and the
/// next read shows by whom.
fn create(tx: &mut dyn Txn, new: &NewAddon, live: &[Addon], applied: &[Applied]) -> Result<Addon, Undone> {
    let known =
        |name: &str| live.iter().any(|addon| addon.name == name) || applied.iter().any(|made| made.addon.name == name);
    insert(tx, new).map_err(|not| match not {
        NotInserted::Refused(Refused::NameTaken { .. }) | NotInserted::Meanwhile(_) => Undone::Meanwhile,
        NotInserted::Refused(Refused::VarTaken { holder: Holder::Addon(name), .. }) if !known(&name) => {
            Undone::Meanwhile
        }
        NotInserted::Refused(refused) => Undone::Failed(refused.into()),
        NotInserted::Store(err) => err.into(),
    })
}

/// Live addon `id`, locked, when it is still what `decide` was shown of it (live, same
/// spec, labels, expiry and backup schedule); otherwise another writer changed it meanwhile.
fn as_read(tx: &mut dyn Txn, live: &[Addon], id: &str) -> Result<Addon, Undone> {
    let read = live.iter().find(|addon| addon.id == id);
    let addon = tx.addon(id)?.ok_or(Undone::Meanwhile)?;
    let unchanged = read.is_some_and(|read| {
        addon.state.is_live()
            && (&addon.name, &addon.provider, &addon.app, &addon.prefix, &addon.params)
                == (&read.name, &read.provider, &read.app, &read.prefix, &read.params)
            && (&addon.labels, addon.expires_at, addon.backup_schedule)
                == (&read.labels, read.expires_at, read.backup_schedule)
    });
    if unchanged {
        Ok(addon)
    } else {
        Err(Undone::Meanwhile)
    }
}
