//! What the store refuses to do, as data: which addon, app, name or var, and who holds
//! it. Nothing was written when one comes back. The commands word it for people (with
//! the command line's flags and what to run next) and pick its exit code; its own text
//! says only what happened.

use super::backend::{Retired, StoreError};
use crate::error::failed;
use crate::machine::State;
use crate::names::shown;

/// A change the store refused, with nothing written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No addon has this name or id; `near` is the live addon whose name is nearest to
    /// it, when one is near enough to be what was meant.
    #[error("no addon named {}{}", shown(name), near.as_ref().map(|near| format!(" (did you mean {near}?)")).unwrap_or_default())]
    NoAddon { name: String, near: Option<String> },
    /// A live addon has the name already.
    #[error("an addon named {name} already exists")]
    NameTaken { name: String },
    /// A var the addon would give `app` is held already.
    #[error("app {app} already has {key} ({holder})")]
    VarTaken { app: String, key: String, holder: Holder, vars: VarsOf },
    /// The var is an addon's, and only the addon sets or removes it.
    #[error("{key} on app {app} is set by addon {addon} and can't be {change} by hand")]
    VarOwned { app: String, key: String, addon: String, change: HandChange },
    /// The app has no such var to unset.
    #[error("app {app} has no config var {key}")]
    NoVar { app: String, key: String },
    /// Only a live addon can be attached to another app.
    #[error("{addon} is {state}; only a live addon can be attached to another app")]
    AttachNotLive { addon: String, state: State },
    /// An addon is attached to its own app already: it belongs to it.
    #[error("{addon} belongs to app {app} already")]
    AttachOwnApp { addon: String, app: String },
    /// The app is attached to the addon already, with another prefix than asked (the
    /// same prefix is the attachment asked for: no refusal).
    #[error("{addon} is attached to app {app} already, {}", match prefix {
        Some(prefix) => format!("as {prefix}"),
        None => "without a prefix".to_string(),
    })]
    AttachedAlready { addon: String, app: String, prefix: Option<String> },
    /// The app is attached to the addon already, with the same prefix and the other
    /// access (a login's access is fixed when it is made).
    #[error("{addon} is attached to app {app} already, {}", access.as_str())]
    AttachedOtherAccess { addon: String, app: String, access: crate::credential::Access },
    /// Every credential slot of the addon is used.
    #[error("{addon} can't be attached to any more apps")]
    NoSlotLeft { addon: String },
    /// An addon's own app is never detached: deprovisioning removes it from every app.
    #[error("app {app} owns {addon}; an addon's own app can't be detached")]
    DetachOwnApp { addon: String, app: String },
    /// The app is not attached to the addon.
    #[error("{addon} is not attached to app {app}")]
    NotAttached { addon: String, app: String },
    /// The app's login to the addon is not made yet, so there is nothing to rotate.
    #[error("app {app}'s login to {addon} is still being made")]
    LoginNotMade { addon: String, app: String },
    /// Only a ready addon's credential is rotated.
    #[error("{addon} is {state}; only a ready addon can be rotated")]
    RotateNotReady { addon: String, state: State },
    /// The generation counter of a login is at its end (of the addon's own, or of an
    /// attached app's).
    #[error("{}", match app { Some(app) => format!("app {app}'s login can't be rotated again"), None => format!("{addon} can't be rotated again") })]
    GenerationsSpent { addon: String, app: Option<String> },
    /// Only a live addon gets an expiry.
    #[error("{addon} is {state}: only a live addon can expire")]
    ExpireNotLive { addon: String, state: State },
    /// Other writers changed the live addons under every try of an apply.
    #[error("the live addons kept changing while the apply ran; nothing was changed")]
    KeptChanging,
    /// A backup or restore of the addon is under way already: one at a time per addon.
    #[error("a {kind} of {addon} is under way already ({id})")]
    BackupBusy { addon: String, kind: &'static str, id: String },
    /// `state` no longer acts: `state copy` moved it, or made it a snapshot.
    #[error("{}", retired_text(state, how))]
    Retired { state: String, how: Retired },
}

fn retired_text(state: &str, how: &Retired) -> String {
    let when = |at: &i64| crate::clock::rfc3339(*at);
    match how {
        Retired::Moved { to, at } => format!("state {state} was moved to {to} at {}", when(at)),
        Retired::Snapshot { of, at } => format!("state {state} is a read-only snapshot of {of} made at {}", when(at)),
    }
}

/// Who holds a var that was wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// It was set by hand.
    Hand,
    /// This addon owns it.
    Addon(String),
    /// Another writer took it between the checks and the write.
    Meanwhile,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Hand => f.write_str("set by hand"),
            Holder::Addon(name) => write!(f, "owned by addon {name}"),
            Holder::Meanwhile => f.write_str("taken meanwhile"),
        }
    }
}

/// Whose vars were to be set: a new addon's, for its own app, or an attached app's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarsOf {
    Addon,
    Attachment,
}

/// What a hand was refused doing to an addon's var.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandChange {
    Set,
    Unset,
}

impl std::fmt::Display for HandChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HandChange::Set => "set",
            HandChange::Unset => "unset",
        })
    }
}

impl From<super::records::VarOwner> for Holder {
    fn from(owner: super::records::VarOwner) -> Holder {
        match owner {
            super::records::VarOwner::Hand => Holder::Hand,
            super::records::VarOwner::Addon { name, .. } => Holder::Addon(name),
        }
    }
}

/// An addon that was named by its id is not in the state.
pub(super) fn no_addon(addon_id: &str) -> anyhow::Error {
    Refused::NoAddon { name: addon_id.to_string(), near: None }.into()
}

/// Why the store refused a step's result for a reason of its own (a var no longer
/// reserved, a move the table does not allow): the step, not the state, failed, and
/// the addon goes to `error`. Distinct from [`StoreError`], which never does that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRefusal(pub String);

impl std::fmt::Display for StepRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What committing one step can run into.
#[derive(Debug)]
pub(super) enum StepError {
    /// The state failed: the whole commit stops (exit 4).
    Store(StoreError),
    /// The step's result was refused: that addon alone goes to error.
    Refused(StepRefusal),
}

impl From<StoreError> for StepError {
    fn from(err: StoreError) -> StepError {
        StepError::Store(err)
    }
}

impl From<StepRefusal> for StepError {
    fn from(refusal: StepRefusal) -> StepError {
        StepError::Refused(refusal)
    }
}

impl From<StepError> for anyhow::Error {
    fn from(err: StepError) -> anyhow::Error {
        match err {
            StepError::Store(err) => err.into(),
            StepError::Refused(refusal) => failed(refusal.0),
        }
    }
}
