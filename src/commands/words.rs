//! The edge where refusals become words: what the store and the engine refused comes up
//! as data ([`Refused`], [`BadSource`], [`OtherAddon`]); here it becomes the one line a user reads, with
//! the command line's flags and what to run next, and the exit code docs/contract.md
//! gives it (2 for input to fix, 1 for an operation refused).

use crate::engine::{BadSource, OtherAddon};
use crate::error::{Exit, Failure};
use crate::store::{Fix, Refused, Retired, Unfit, VarsOf};

/// `err` as a user reads it: when its chain holds a refusal of the store or the engine,
/// one [`Failure`] whose line words each link of the chain (a refusal as the command
/// line says it, anything else as it is) and whose exit code is the first link's that
/// has one. Any other error is returned as it is.
pub fn for_people(err: anyhow::Error) -> anyhow::Error {
    if !err.chain().any(|cause| refusal(cause).is_some()) {
        return err;
    }
    let mut exit = None;
    let mut links = Vec::new();
    for cause in err.chain() {
        let (code, line) = match refusal(cause) {
            Some((code, line)) => (Some(code), line),
            None => (cause.downcast_ref::<Failure>().map(Failure::exit), cause.to_string()),
        };
        exit = exit.or(code);
        links.push(line);
    }
    Failure::new(exit.unwrap_or(Exit::Failed), links.join(": ")).into()
}

/// The exit code and the line of a refusal of the store or the engine.
fn refusal(cause: &(dyn std::error::Error + 'static)) -> Option<(Exit, String)> {
    if let Some(refused) = cause.downcast_ref::<Refused>() {
        return Some(refused_words(refused));
    }
    if let Some(unfit) = cause.downcast_ref::<Unfit>() {
        return Some((Exit::StateUnusable, unfit_words(unfit)));
    }
    if let Some(other) = cause.downcast_ref::<OtherAddon>() {
        return Some((Exit::Failed, format!("{other}; change nothing, or deprovision it first")));
    }
    let bad = cause.downcast_ref::<BadSource>()?;
    let why = match bad {
        BadSource::Missing(refused) => refused_words(refused).1,
        other => other.to_string(),
    };
    Some((Exit::Usage, format!("--from: {why}")))
}

/// A state path that holds no usable state, with the fix in the command line's words.
fn unfit_words(unfit: &Unfit) -> String {
    let fix = match unfit.fix {
        Fix::Another => "pass another --state path",
        Fix::AFile => "pass a file path with --state",
        Fix::RemoveOrAnother => "remove it or pass another --state path",
        Fix::RestoreOrAnother => "restore it from a backup or pass another --state path",
        Fix::PutBackOrFollow => "put it back, or pass the state's new --state, and start again",
    };
    format!("{unfit}; {fix}")
}

/// What the store refused, worded for the command line.
fn refused_words(refused: &Refused) -> (Exit, String) {
    let what = refused.to_string();
    match refused {
        Refused::NoAddon { .. } => (Exit::Usage, format!("{what}; 'addons list --all' shows every addon")),
        Refused::NameTaken { .. } => (Exit::Failed, format!("{what}; choose another --name")),
        Refused::VarTaken { vars, .. } => {
            let whose = match vars {
                VarsOf::Addon => "this addon's vars",
                VarsOf::Attachment => "the attached vars",
            };
            (Exit::Failed, format!("{what}; pass --as PREFIX to give {whose} a prefix (e.g. --as secondary)"))
        }
        Refused::VarOwned { .. } => (Exit::Failed, format!("{what}; deprovision the addon, or use another key")),
        Refused::NoVar { app, .. } => (Exit::Usage, format!("{what}; 'addons config {app}' lists them")),
        Refused::AttachOwnApp { .. } => (Exit::Usage, format!("{what}; attach it to another app")),
        Refused::AttachedAlready { addon, app, .. } => {
            (Exit::Usage, format!("{what}; 'addons detach {addon} {app}' first to attach it another way"))
        }
        Refused::AttachedOtherAccess { addon, app, .. } => (
            Exit::Usage,
            format!("{what}; a login keeps its access: 'addons detach {addon} {app}' first to attach it the other way"),
        ),
        Refused::NotAttached { addon, .. } => (Exit::Usage, format!("{what}; 'addons info {addon}' lists its apps")),
        Refused::DetachOwnApp { addon, .. } => {
            (Exit::Usage, format!("{what}: 'addons deprovision {addon}' removes it from every app"))
        }
        Refused::LoginNotMade { addon, .. } => (Exit::Failed, format!("{what}; 'addons wait {addon}' first")),
        Refused::RotateNotReady { addon, .. } => (Exit::Failed, format!("{what} ('addons wait {addon}' first)")),
        Refused::KeptChanging => (Exit::Failed, format!("{what}; apply again")),
        Refused::BackupBusy { addon, .. } => {
            (Exit::Failed, format!("{what}; 'addons backups {addon}' shows it, try again once it ends"))
        }
        Refused::Retired { how: Retired::Moved { to, .. }, .. } => (
            Exit::StateUnusable,
            format!("{what}; it no longer acts on apps or servers: use --state {to} (or ADDONS_STATE)"),
        ),
        Refused::Retired { how: Retired::Snapshot { .. }, .. } => {
            (Exit::StateUnusable, format!("{what}; 'addons state copy --to PATH' makes a copy of it that acts"))
        }
        Refused::AttachNotLive { .. }
        | Refused::NoSlotLeft { .. }
        | Refused::GenerationsSpent { .. }
        | Refused::ExpireNotLive { .. } => (Exit::Failed, what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;
    use crate::machine::State;
    use crate::store::{HandChange, Holder};

    fn said(err: impl Into<anyhow::Error>) -> (Exit, String) {
        let err = for_people(err.into());
        (exit_of(&err), format!("{err:#}"))
    }

    #[test]
    fn each_refusal_is_one_line_with_the_command_lines_words_and_its_exit_code() {
        let (addon, app) = ("db".to_string(), "web".to_string());
        let cases: Vec<(Refused, Exit, &str)> = vec![
            (
                Refused::NoAddon { name: "dc".into(), near: Some("db".into()) },
                Exit::Usage,
                "no addon named \"dc\" (did you mean db?); 'addons list --all' shows every addon",
            ),
            (
                Refused::NameTaken { name: addon.clone() },
                Exit::Failed,
                "an addon named db already exists; choose another --name",
            ),
            (
                Refused::VarTaken { app: app.clone(), key: "K".into(), holder: Holder::Hand, vars: VarsOf::Addon },
                Exit::Failed,
                "app web already has K (set by hand); pass --as PREFIX to give this addon's vars a prefix (e.g. --as secondary)",
            ),
            (
                Refused::VarTaken {
                    app: app.clone(),
                    key: "K".into(),
                    holder: Holder::Addon("db".into()),
                    vars: VarsOf::Attachment,
                },
                Exit::Failed,
                "app web already has K (owned by addon db); pass --as PREFIX to give the attached vars a prefix (e.g. --as secondary)",
            ),
            (
                Refused::VarOwned { app: app.clone(), key: "K".into(), addon: addon.clone(), change: HandChange::Unset },
                Exit::Failed,
                "K on app web is set by addon db and can't be unset by hand; deprovision the addon, or use another key",
            ),
            (
                Refused::NoVar { app: app.clone(), key: "K".into() },
                Exit::Usage,
                "app web has no config var K; 'addons config web' lists them",
            ),
            (
                Refused::DetachOwnApp { addon: addon.clone(), app: app.clone() },
                Exit::Usage,
                "app web owns db; an addon's own app can't be detached: 'addons deprovision db' removes it from every app",
            ),
            (
                Refused::NotAttached { addon: addon.clone(), app: app.clone() },
                Exit::Usage,
                "db is not attached to app web; 'addons info db' lists its apps",
            ),
            (
                Refused::RotateNotReady { addon: addon.clone(), state: State::Provisioned },
                Exit::Failed,
                "db is provisioned; only a ready addon can be rotated ('addons wait db' first)",
            ),
            (
                Refused::GenerationsSpent { addon: addon.clone(), app: Some(app.clone()) },
                Exit::Failed,
                "app web's login can't be rotated again",
            ),
            (
                Refused::KeptChanging,
                Exit::Failed,
                "the live addons kept changing while the apply ran; nothing was changed; apply again",
            ),
        ];
        for (refused, exit, line) in cases {
            assert_eq!(said(refused), (exit, line.to_string()));
        }
    }

    #[test]
    fn a_state_path_holding_no_state_says_what_to_pass_instead() {
        let unfit = |fix| Unfit { path: "/tmp/dir".into(), what: "is a directory".into(), fix };
        assert_eq!(
            said(unfit(Fix::AFile)),
            (Exit::StateUnusable, "state file /tmp/dir: is a directory; pass a file path with --state".into())
        );
        let (_, line) = said(anyhow::Error::from(unfit(Fix::RestoreOrAnother)).context("opening the state"));
        assert_eq!(
            line,
            "opening the state: state file /tmp/dir: is a directory; restore it from a backup or pass another --state path"
        );
    }

    #[test]
    fn a_bad_source_is_a_usage_error_about_from() {
        let missing = BadSource::Missing(Refused::NoAddon { name: "nope".into(), near: None });
        let line = "--from: no addon named \"nope\"; 'addons list --all' shows every addon";
        assert_eq!(said(missing), (Exit::Usage, line.to_string()));
        let not_ready = BadSource::NotReady { addon: "db".into(), state: State::Deprovisioned };
        let line = "--from: db is deprovisioned, not ready; only a ready addon's data can be copied";
        assert_eq!(said(not_ready), (Exit::Usage, line.to_string()));
    }

    #[test]
    fn the_chain_around_a_refusal_is_kept_and_other_errors_pass_unchanged() {
        let err = anyhow::Error::from(Refused::NameTaken { name: "db".into() }).context("other-db (line 2)");
        let line = "other-db (line 2): an addon named db already exists; choose another --name";
        assert_eq!(said(err), (Exit::Failed, line.to_string()));
        let err = crate::error::usage("bad input").context("while reading");
        assert_eq!(said(err), (Exit::Usage, "while reading: bad input".to_string()));
    }
}
