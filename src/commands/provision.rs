//! `addons provision`: validates everything, checks the provider's server answers,
//! creates the addon and begins provisioning; with `--wait`, ticks it to ready.

use crate::addon::{new_seed, Addon, Params};
use crate::cli::ProvisionArgs;
use crate::error::{failed, usage};
use crate::names;
use crate::output::addon_json;
use crate::providers;
use crate::store::{now_ms, NewAddon};

use super::{parse_timeout, wait::wait_for, Ctx};

/// Handles `addons provision`.
pub fn run(args: ProvisionArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let info = providers::info(&args.provider).ok_or_else(|| usage(providers::unknown_provider(&args.provider)))?;
    names::check_app(&args.app)?;
    let prefix = args.prefix.as_deref().map(names::normalize_prefix).transpose()?;
    if let Some(name) = &args.name {
        names::check_addon_name(name)?;
    }
    let params = parse_params(&args.params)?;
    providers::check_params(info, &params).map_err(usage)?;
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let engine = ctx.engine();
    let provider = engine.provider(info.name).map_err(usage)?;
    // Refuse before anything is created when the server does not answer.
    provider.health().map_err(|err| failed(format!("can't provision: {err}")))?;
    // A server that undoes every addon's isolation is worth a line even under -q and --json.
    for warning in provider.warnings() {
        eprintln!("warning: {warning}");
    }

    let mut store = ctx.store()?;
    let vars = info.vars.iter().map(|var| Addon::prefixed(prefix.as_deref(), var)).collect();
    let now = now_ms();
    let addon = store.insert_addon(&NewAddon {
        id: names::generate_addon_id(),
        name: args.name.clone().unwrap_or_else(names::generate_addon_name),
        provider: info.name.to_string(),
        app: args.app.clone(),
        prefix,
        params,
        seed: new_seed(),
        vars,
        deadline_at: now + engine.settings().engine.provision_timeout.as_millis() as i64,
        claim: engine.token().to_string(),
        lease: engine.lease(),
    })?;
    let failure = engine.begin(&mut store, &addon)?;
    let addon = store.addon(&addon.id)?;
    if failure.is_some() {
        if ctx.json {
            ctx.print_json(&addon_json(&addon));
        }
        return Err(failed(format!("{} ({} for {}) failed: {}", addon.name, addon.provider, addon.app, addon.message)));
    }
    // The name is what a provision gives back, so -q keeps it (scripts capture it).
    if !ctx.json {
        println!("{}", addon.name);
    }
    if addon.state.is_terminal() {
        // Another command deprovisioned it mid-way: that was asked for too, so no error.
        ctx.note(format!("{} was deprovisioned by another command while it was being provisioned.", addon.name));
        if ctx.json {
            ctx.print_json(&addon_json(&addon));
        }
        return Ok(0);
    }
    ctx.note(format!("Provisioning {} ({} for app {}): {}", addon.name, addon.provider, addon.app, addon.message));
    let done = format!("provisioned {} on app {}", addon.name, addon.app);
    if args.wait {
        let code = wait_for(ctx, &engine, &mut store, vec![addon.id.clone()], timeout, false)?;
        super::sync_env_files(ctx, &mut store, std::slice::from_ref(&addon.app), &done)?;
        return Ok(code);
    }
    let synced = super::sync_env_files(ctx, &mut store, std::slice::from_ref(&addon.app), &done);
    if ctx.json {
        ctx.print_json(&addon_json(&addon));
    }
    synced?;
    ctx.note(format!("Run 'addons tick' (or 'addons wait {}') to finish provisioning.", addon.name));
    Ok(0)
}

/// Parses `--param KEY=VALUE` values; a key given twice is an error.
fn parse_params(raw: &[String]) -> anyhow::Result<Params> {
    let mut params = Params::new();
    for item in raw {
        let Some((key, value)) = item.split_once('=') else {
            return Err(usage(format!(
                "--param {} is not KEY=VALUE; write e.g. --param length=64",
                names::shown(item)
            )));
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(usage(format!("--param key {} must be lowercase letters, digits and '_'", names::shown(key))));
        }
        if params.insert(key.to_string(), value.to_string()).is_some() {
            return Err(usage(format!("--param {key} is given twice; give it once")));
        }
    }
    Ok(params)
}
