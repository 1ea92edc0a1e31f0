//! Addon rows: creation (with its config vars reserved), look-ups, listings, the
//! recorded transitions, and the user's deprovision.

use super::backend::EventRecord;
use super::backend::{Conflict, Scan, StoreError, Txn};
use super::base::Store;
use super::entry::{enter, Move, Row};
use super::refused::StepError;
use super::refused::{no_addon, Holder, Refused, VarsOf};
use crate::addon::{Addon, Cleanup, Glance, Params};
use crate::credential::Login;
use crate::labels::Labels;
use crate::machine::{self, Event, START};

/// What `provision` asks the store to create.
#[derive(Debug, Clone)]
pub struct NewAddon {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub app: String,
    pub prefix: Option<String>,
    pub params: Params,
    pub seed: Vec<u8>,
    /// The var names it will own (prefix applied).
    pub vars: Vec<String>,
    pub deadline_at: i64,
    /// The claim the creating process holds while it calls `begin_provision`, for
    /// this long on the state's clock.
    pub claim: String,
    pub lease: std::time::Duration,
    pub labels: Labels,
    /// When it expires (ms since the epoch), if ever.
    pub expires_at: Option<i64>,
    /// The id of the ready addon whose data it starts as a copy of (`provision --from`).
    pub source_id: Option<String>,
    /// The server it is made on (see [`Addon::server`]).
    pub server: Option<String>,
    /// Its own backup schedule (see [`Addon::backup_schedule`]).
    pub backup_schedule: Option<crate::backup::Schedule>,
}

impl Store {
    /// Creates an addon in `waiting_for_provision`, reserving its config var names on
    /// the app. Refused (nothing written) when a name or var is taken.
    pub fn insert_addon(&mut self, new: &NewAddon) -> anyhow::Result<Addon> {
        self.write(|tx| match insert(tx, new) {
            Ok(addon) => Ok(addon),
            Err(NotInserted::Refused(refused)) => Err(refused.into()),
            // Another writer (on another host) took the name or a var since the checks.
            Err(NotInserted::Meanwhile(Conflict::LiveName)) => Err(name_taken(new).into()),
            Err(NotInserted::Meanwhile(Conflict::VarKey)) => Err(Refused::VarTaken {
                app: new.app.clone(),
                key: new.vars.join(", "),
                holder: Holder::Meanwhile,
                vars: VarsOf::Addon,
            }
            .into()),
            Err(NotInserted::Store(err)) => Err(err.into()),
        })
    }

    /// Finds an addon by display name or id. A live addon wins over deprovisioned ones
    /// of the same name; among those, the newest.
    pub fn find_addon(&self, name_or_id: &str) -> anyhow::Result<Option<Addon>> {
        self.read(|tx| {
            let found = match tx.addon(name_or_id)? {
                Some(addon) => Some(addon),
                None => tx.addon_by_name(name_or_id)?,
            };
            let mut found: Vec<Addon> = found.into_iter().collect();
            super::attachments::fill(tx, &mut found)?;
            Ok(found.pop())
        })
    }

    /// The live addon with this display name, if any: what `provision --ensure` compares with.
    pub fn live_addon_named(&self, name: &str) -> anyhow::Result<Option<Addon>> {
        self.read(|tx| {
            let mut found: Vec<Addon> =
                tx.addon_by_name(name)?.filter(|addon| addon.state.is_live()).into_iter().collect();
            super::attachments::fill(tx, &mut found)?;
            Ok(found.pop())
        })
    }

    /// Like [`Store::find_addon`], but a missing addon is [`Refused::NoAddon`], with the
    /// live addon whose name is nearest to what was typed.
    pub fn addon(&self, name_or_id: &str) -> anyhow::Result<Addon> {
        if let Some(addon) = self.find_addon(name_or_id)? {
            return Ok(addon);
        }
        let live = self.addon_names(true)?;
        let near = crate::names::closest(name_or_id, live.iter().map(String::as_str)).map(str::to_string);
        Err(Refused::NoAddon { name: name_or_id.to_string(), near }.into())
    }

    /// The names of the addons, only the live ones when `live`: for completion and
    /// did-you-mean.
    pub fn addon_names(&self, live: bool) -> anyhow::Result<Vec<String>> {
        self.read(|tx| tx.addon_names(live))
    }

    /// Addons, optionally of one app; `all` includes deprovisioned and errored ones.
    pub fn list_addons(&self, app: Option<&str>, all: bool) -> anyhow::Result<Vec<Addon>> {
        self.read(|tx| {
            let mut addons = tx.list_addons(app, all)?;
            super::attachments::fill(tx, &mut addons)?;
            Ok(addons)
        })
    }

    /// Hands `visit` the addons `scan` selects, one at a time, in `list`'s order, each
    /// with its live attachments. They are read a batch at a time, so a listing of a
    /// whole fleet holds one batch, not the fleet; the label requirements, which the
    /// backend applies in its query, are checked again here on the decoded labels.
    /// Stops at the first error `visit` returns, and returns it.
    pub fn for_each_addon(
        &self,
        scan: &Scan<'_>,
        mut visit: impl FnMut(Addon) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut failed = None;
        self.read(|tx| {
            tx.scan_addons(scan, &mut |batch| {
                for addon in batch {
                    if !scan.labels.iter().all(|requirement| requirement.matches(&addon.labels)) {
                        continue;
                    }
                    if let Err(err) = visit(addon) {
                        failed = Some(err);
                        return false;
                    }
                }
                true
            })
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Glances at the addons with a task still to run (those `pending_count` counts),
    /// for the live display of `watch`.
    pub fn moving_glances(&self) -> anyhow::Result<Vec<Glance>> {
        self.read(|tx| tx.moving_glances())
    }

    /// Glances at the addons of these ids, read in one go (an id of none is left out):
    /// the live display of `watch` looks again at those that stopped moving.
    pub fn glances(&self, ids: &[String]) -> anyhow::Result<Vec<Glance>> {
        self.read(|tx| tx.glances(ids))
    }

    /// What a default `list` leaves out but a user must hear of, optionally of one app:
    /// how many addons are in error, and how many deprovisioned ones still wait for
    /// their resource to be removed.
    pub fn hidden_counts(&self, app: Option<&str>) -> anyhow::Result<(usize, usize)> {
        self.read(|tx| tx.hidden_counts(app))
    }

    /// Every recorded transition of an addon, oldest first.
    pub fn events(&self, addon_id: &str) -> anyhow::Result<Vec<EventRecord>> {
        self.read(|tx| tx.events(addon_id))
    }

    /// The user's deprovision: moves the addon to `deprovisioned`, removes its config
    /// vars from the app at once, and schedules the provider's cleanup. An addon that
    /// is already terminal is returned unchanged. A claim held by a tick in flight is
    /// kept, so the cleanup cannot overtake the step in hand.
    pub fn deprovision(&mut self, addon_id: &str) -> anyhow::Result<(Addon, bool)> {
        let changed = self.write(|tx| {
            let now = tx.now()?;
            let mut addon = tx.addon(addon_id)?.ok_or_else(|| no_addon(addon_id))?;
            Ok(deprovision(tx, &mut addon, now)?)
        })?;
        Ok((self.addon(addon_id)?, changed))
    }
}

/// Why [`insert`] made nothing.
pub(super) enum NotInserted {
    /// The name or a var is taken already.
    Refused(Refused),
    /// Another writer took the name or a var since the checks above.
    Meanwhile(Conflict),
    /// The state failed.
    Store(StepError),
}

/// Creates an addon in `waiting_for_provision` in `tx`, reserving its config var names.
pub(super) fn insert(tx: &mut dyn Txn, new: &NewAddon) -> Result<Addon, NotInserted> {
    let store = |err: StoreError| NotInserted::Store(StepError::Store(err));
    if tx.live_name_taken(&new.name).map_err(store)? {
        return Err(NotInserted::Refused(name_taken(new)));
    }
    for key in &new.vars {
        if let Some(owner) = tx.var_owner(&new.app, key).map_err(store)? {
            let (app, key, holder) = (new.app.clone(), key.clone(), owner.into());
            return Err(NotInserted::Refused(Refused::VarTaken { app, key, holder, vars: VarsOf::Addon }));
        }
    }
    let now = tx.now().map_err(store)?;
    let (event, first) = START;
    let mut addon = Addon {
        id: new.id.clone(),
        name: new.name.clone(),
        provider: new.provider.clone(),
        app: new.app.clone(),
        prefix: new.prefix.clone(),
        params: new.params.clone(),
        seed: new.seed.clone(),
        state: first,
        message: String::new(),
        vars: new.vars.clone(),
        config: None,
        begun: false,
        cleanup: Cleanup::None,
        attempts: 0,
        due_at: None,
        deadline_at: new.deadline_at,
        claim: Some(new.claim.clone()),
        claim_until: Some(now.saturating_add(new.lease.as_millis() as i64)),
        created_at: now,
        updated_at: now,
        failure: None,
        last_error: None,
        last_error_permanent: false,
        labels: new.labels.clone(),
        expires_at: new.expires_at,
        login: Login::PROVISIONED,
        verified_at: None,
        drift: None,
        attachments: Vec::new(),
        source_id: new.source_id.clone(),
        server: new.server.clone(),
        backup_schedule: new.backup_schedule,
        version: 0,
    };
    let change = Move { to: first, event, message: "provisioning", logged: "provisioning" };
    match enter(tx, &mut addon, change, now, Row::Insert) {
        Err(StepError::Store(StoreError::Conflict(conflict))) => Err(NotInserted::Meanwhile(conflict)),
        Err(err) => Err(NotInserted::Store(err)),
        Ok(()) => Ok(addon),
    }
}

/// The user's deprovision of `addon` (read in `tx`); false when it was terminal already.
pub(super) fn deprovision(tx: &mut dyn Txn, addon: &mut Addon, now: i64) -> Result<bool, StepError> {
    let Ok(to) = machine::transition(addon.state, Event::Deprovision) else {
        return Ok(false);
    };
    let change = Move { to, event: Event::Deprovision, message: "deprovisioning", logged: "deprovision requested" };
    enter(tx, addon, change, now, Row::Update)?;
    Ok(true)
}

fn name_taken(new: &NewAddon) -> Refused {
    Refused::NameTaken { name: new.name.clone() }
}
