//! `addons __copy`: the background copier that a tick starts for an addon made with
//! `provision --from`. It copies the source's data into the new addon's resource and
//! marks it done on the server; the ticks see that and go on. Its errors go to stderr,
//! which the tick points at a log file it reads when the copier ends without a copy.
//! It reads the addon (its seed and params) from the state the tick hands it.

use crate::addon::{Params, Resource};
use crate::cli::CopyArgs;
use crate::engine::{same_server, DEFAULT_SERVER, PERMANENT};
use crate::error::{failed, Failure};
use crate::providers::{self, Environment, ProviderError};

use super::Ctx;

/// Handles `addons __copy`.
pub fn run(args: CopyArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let env = Environment { data_dir: args.data_dir.clone() };
    let provider = providers::build(&args.provider, &ctx.providers, &env).map_err(failed)?;
    // Nothing is copied onto another server than the addon's (a transient failure: the
    // config may lead back).
    if let Some(recorded) = &args.server {
        let current = provider.server_identity().map(|id| id.map(|id| format!("{DEFAULT_SERVER} {id}")));
        match current {
            Ok(Some(current)) if !same_server(recorded, &current) => {
                eprintln!(
                    "the config now leads the {} provider to another server than the addon's; nothing copied",
                    args.provider
                );
                return Err(Failure::Said.into());
            }
            Err(ProviderError::Permanent(message) | ProviderError::Transient(message)) => {
                eprintln!("{message}");
                return Err(Failure::Said.into());
            }
            _ => {}
        }
    }
    // The addon as the state holds it: what the copy makes from its seed (the login the
    // copy is restored as, and its password) and params (limits) must be what the addon
    // hands out and its checks expect, not what a blank addon of the same id would get.
    let store = ctx.existing_store()?;
    let found = |id: &str| store.as_ref().map_or(Ok(None), |store| store.find_addon(id));
    let Some(addon) = found(&args.addon)? else {
        eprintln!("{PERMANENT}addon {} is not in the state at {}; nothing copied", args.addon, ctx.state.describe());
        return Err(Failure::Said.into());
    };
    let source = found(&args.source)?;
    let (params, seed) = (Params::new(), Vec::new());
    let source = match &source {
        Some(source) => source.resource(),
        // Gone from the state: the provider says the source's data is gone.
        None => Resource::new(&args.source, &params, &seed),
    };
    let addon = addon.resource().copying(Some(&args.source));
    // The last line is what the tick reads: how the copy ended, and whether to try again.
    match provider.copier().and_then(|copier| copier.copy(addon, source)) {
        Ok(message) => {
            eprintln!("{message}");
            Ok(())
        }
        Err(ProviderError::Permanent(message)) => {
            eprintln!("{PERMANENT}{message}");
            Err(Failure::Said.into())
        }
        Err(ProviderError::Transient(message)) => {
            eprintln!("{message}");
            Err(Failure::Said.into())
        }
    }
}
