//! `addons provision`: validates everything, checks the provider's server answers,
//! creates the addon and begins provisioning; with `--wait`, ticks it to ready.

use crate::addon::{Addon, Params};
use crate::cli::ProvisionArgs;
use crate::engine::Engine;
use crate::error::{failed, usage};
use crate::expiry::{check_duration, check_expires_at, check_expires_in, parse_expires_at, parse_expires_in, renewal};
use crate::labels::{parse_label, Labels};
use crate::names;
use crate::output::addon_json;
use crate::providers;
use crate::spec::AddonSpec;
use crate::store::{now_ms, Remarked, Scan, Store};

use super::wait::{wait_for, Shape};
use super::{parse_timeout, Ctx};

/// Handles `addons provision`.
pub fn run(args: ProvisionArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let info = providers::info(&args.provider).ok_or_else(|| usage(providers::unknown_provider(&args.provider)))?;
    names::check_app(&args.app)?;
    let prefix = args.prefix.as_deref().map(names::normalize_prefix).transpose()?;
    if let Some(name) = &args.name {
        names::check_addon_name(name)?;
    }
    let params = parse_params(&args.params)?;
    let labels =
        Labels::from_pairs(args.labels.iter().map(|arg| parse_label(arg)).collect::<anyhow::Result<Vec<_>>>()?)?;
    check_expiry(&args)?;
    providers::check_params(info, &params).map_err(usage)?;
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let server = args.server.clone().filter(|server| server != providers::DEFAULT_SERVER);
    let mut spec =
        AddonSpec { provider: info.name.to_string(), app: args.app.clone(), prefix: prefix.clone(), params, server };
    let engine = ctx.engine();
    let existing = ctx.existing_store()?;
    if let (Some(store), Some(from)) = (&existing, &args.from) {
        inherit_params(store, from, &mut spec)?;
    }
    if let (true, Some(store)) = (args.ensure, &existing) {
        if let Some(found) = ensured(&engine, store, &args, &spec)? {
            let store = existing.expect("the store the addon was found in");
            return kept(ctx, &engine, store, found, (&args, &labels), timeout);
        }
    }
    check_server(&engine, info.name, spec.server_name())?;
    // The expiry is worked out on the state's clock (a shared state's server's, not
    // this host's, which may be off); a missing state file, whose clock is this
    // host's, is made only once the expiry is known to be good, and a missing schema
    // first, as its server's clock is asked.
    let existing = match existing {
        None if ctx.state.file().is_none() => Some(ctx.new_store()?),
        existing => existing,
    };
    let now = existing.as_ref().map(Store::now).transpose()?.unwrap_or_else(now_ms);
    let expires_at = expires_at(&args, now)?;
    let mut store = match existing {
        Some(store) => store,
        None => ctx.new_store()?,
    };
    super::note_new_app(ctx, &store, &args.app)?;
    let name = args.name.clone().unwrap_or_else(names::generate_addon_name);
    let mut source = args.from.as_deref().map(|from| engine.check_source(&store, &spec, from)).transpose()?;
    if let Some(backup) = &args.from_backup {
        source = Some(engine.check_backup_source(&store, &spec.provider, backup)?);
    }
    let inserted = engine.create(&mut store, &name, &spec, labels.clone(), expires_at, source.as_deref());
    let addon = match inserted {
        Ok(addon) => addon,
        // Another `provision --ensure` of this name won the race: the same addon is success.
        Err(err) if args.ensure => match ensured(&engine, &store, &args, &spec)? {
            Some(existing) => return kept(ctx, &engine, store, existing, (&args, &labels), timeout),
            None => return Err(err),
        },
        Err(err) => return Err(err),
    };
    let (addon, failure) = addon;
    if failure.is_some() {
        if ctx.json {
            ctx.print_json(&created_json(&addon, true));
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
            ctx.print_json(&created_json(&addon, true));
        }
        return Ok(());
    }
    note_found_server(ctx, &engine, &store, &addon)?;
    ctx.note(format!("Provisioning {} ({} for app {}): {}", addon.name, addon.provider, addon.app, addon.message));
    let done = format!("provisioned {} on app {}", addon.name, addon.app);
    if args.wait {
        wait_for(ctx, &engine, &mut store, vec![addon.id.clone()], timeout, Shape::Provisioned { created: true })?;
        super::env_files_after_wait(ctx, &mut store, std::slice::from_ref(&addon.app), &done)?;
        return Ok(());
    }
    let synced = super::sync_env_files(ctx, &engine, &mut store, std::slice::from_ref(&addon.app), &done);
    if ctx.json {
        ctx.print_json(&created_json(&addon, true));
    }
    synced?;
    ctx.note(format!("Run 'addons tick' (or 'addons wait {}') to finish provisioning.", addon.name));
    Ok(())
}

/// The first addon made on a server found on this machine (no config section names
/// it) says where that server is and how it was found, once: later ones on it do not.
fn note_found_server(ctx: &Ctx, engine: &Engine, store: &Store, addon: &Addon) -> anyhow::Result<()> {
    let (Some(how), Some(server)) = (engine.found(&addon.provider), &addon.server) else { return Ok(()) };
    let mut others = 0;
    let scan = Scan { app: None, all: true, labels: &[], expired_by: None, own_schedule: false };
    store.for_each_addon(&scan, |other| {
        others += usize::from(other.id != addon.id && other.server.as_ref() == Some(server));
        Ok(())
    })?;
    if others == 0 {
        let add = format!("addons providers add {}", addon.provider);
        ctx.note(format!(
            "Note: no [providers.{}] section in {}: using the server found at {how}; `{add}` writes it there",
            addon.provider,
            ctx.settings.path.display()
        ));
    }
    Ok(())
}

/// A copy (`--from`) keeps the params of its source that the line does not give (the
/// URL's `scheme`: an app reading the copy reads it as it read the source), when the
/// source is of the same provider; a wrong source is refused later, by `check_source`.
fn inherit_params(store: &Store, from: &str, spec: &mut AddonSpec) -> anyhow::Result<()> {
    let Some(source) = store.find_addon(from)? else { return Ok(()) };
    if source.provider == spec.provider {
        for (key, value) in source.params {
            spec.params.entry(key).or_insert(value);
        }
    }
    Ok(())
}

/// Refuses (exit 1) before anything is created when the provider's server does not
/// answer; prints the provider's warnings (even under -q and --json: a server that undoes
/// every addon's isolation is worth a line).
pub(super) fn check_server(engine: &Engine, provider: &str, server: &str) -> anyhow::Result<()> {
    for warning in engine.check_server(provider, server)? {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// The live addon named `--name`, if any, when it is the one asked for.
fn ensured(engine: &Engine, store: &Store, args: &ProvisionArgs, spec: &AddonSpec) -> anyhow::Result<Option<Addon>> {
    args.name.as_deref().map_or(Ok(None), |name| engine.ensured(store, name, spec))
}

/// `provision --ensure` found the addon asked for: its labels and expiry are brought to
/// what was asked (the expiry by the renewal rule an apply file's `expires_in` follows),
/// what changed is said, and it is printed as if made (`"created": false`); with
/// `--wait`, it is waited for as usual.
fn kept(
    ctx: &Ctx,
    engine: &Engine,
    mut store: Store,
    addon: Addon,
    (args, labels): (&ProvisionArgs, &Labels),
    timeout: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let (addon, changed) = store.remark(&addon.id, labels, |now, live| match (&args.expires_in, &args.expires_at) {
        (Some(text), _) => {
            let duration = check_duration(text).map_err(|why| usage(format!("--expires-in: {why}")))?;
            Ok(renewal(duration, live, now).map(Some))
        }
        (None, Some(text)) => {
            let at = parse_expires_at(text, now)?;
            Ok((live != Some(at)).then_some(Some(at)))
        }
        (None, None) => Ok(None),
    })?;
    if !ctx.json {
        println!("{}", addon.name);
    }
    ctx.note(format!(
        "{} already exists ({} for app {}): {}.",
        addon.name,
        addon.provider,
        addon.app,
        kept_words(&changed)
    ));
    if args.wait {
        return wait_for(
            ctx,
            engine,
            &mut store,
            vec![addon.id.clone()],
            timeout,
            Shape::Provisioned { created: false },
        );
    }
    if ctx.json {
        ctx.print_json(&created_json(&addon, false));
    }
    Ok(())
}

/// What `provision --ensure` did to the addon it kept, e.g. `kept; expiry renewed to
/// 2026-12-14T05:00:00Z; label pr=999 set`.
fn kept_words(changed: &Remarked) -> String {
    let mut words = vec!["kept".to_string()];
    match changed.expiry {
        Some(Some(at)) => words.push(format!("expiry renewed to {}", crate::clock::rfc3339(at))),
        Some(None) => words.push("expiry removed".to_string()),
        None => {}
    }
    let set: Vec<String> = changed.labels.iter().map(ToString::to_string).collect();
    match set.len() {
        0 => {}
        1 => words.push(format!("label {} set", set[0])),
        _ => words.push(format!("labels {} set", set.join(", "))),
    }
    match words.len() {
        1 => "kept as it is".to_string(),
        _ => words.join("; "),
    }
}

/// The addon as `provision --json` prints it: with whether this call made it.
fn created_json(addon: &Addon, created: bool) -> serde_json::Value {
    let mut doc = addon_json(addon);
    doc["created"] = created.into();
    doc
}

/// Checks the form of `--expires-in` or `--expires-at`, before anything is opened.
fn check_expiry(args: &ProvisionArgs) -> anyhow::Result<()> {
    match (&args.expires_in, &args.expires_at) {
        (Some(duration), _) => check_expires_in(duration),
        (None, Some(time)) => check_expires_at(time),
        (None, None) => Ok(()),
    }
}

/// When the addon expires, from `--expires-in` or `--expires-at` (at most one is given),
/// `now` being the state's clock.
fn expires_at(args: &ProvisionArgs, now: i64) -> anyhow::Result<Option<i64>> {
    match (&args.expires_in, &args.expires_at) {
        (Some(duration), _) => parse_expires_in(duration, now).map(Some),
        (None, Some(time)) => parse_expires_at(time, now).map(Some),
        (None, None) => Ok(None),
    }
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
