//! `addons env`: an app's config vars, unmasked, for `eval`, a dotenv file or a script.
//! Also what `run` hands its command: both warn about (or, with `--wait`, wait for)
//! the app's addons that are not ready yet, whose vars are still missing.

use clap::ValueEnum;

use crate::addon::Addon;
use crate::cli::{EnvArgs, EnvFormat, ReadyArgs};
use crate::error::usage;
use crate::machine::State;
use crate::store::{ConfigVar, Store};

use super::{
    app_suggestion, known_app, parse_timeout,
    wait::{wait_for, Shape},
    Ctx,
};

/// Handles `addons env`.
pub fn run(args: EnvArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let format = match (ctx.json, args.format) {
        (false, format) => format.unwrap_or(EnvFormat::Shell),
        (true, None | Some(EnvFormat::Json)) => EnvFormat::Json,
        (true, Some(format)) => {
            let name = format.to_possible_value().map(|value| value.get_name().to_string()).unwrap_or_default();
            return Err(usage(format!(
                "--json prints JSON, and --format {name} asks for something else; give one of them"
            )));
        }
    };
    let vars = ready_vars(ctx, &args.app, &args.ready)?;
    match format {
        EnvFormat::Shell => {
            for var in &vars {
                println!("export {}={}", var.key, shell_quote(&var.value));
            }
        }
        EnvFormat::Dotenv => {
            let text = crate::dotenv::render(&vars)
                .map_err(|err| usage(format!("{err}; use --format shell or --format json, or change the value")))?;
            print!("{text}");
        }
        EnvFormat::Json => {
            let doc: serde_json::Map<String, serde_json::Value> =
                vars.into_iter().map(|var| (var.key, var.value.into())).collect();
            ctx.print_json(&doc.into());
        }
    }
    Ok(())
}

/// The app's config vars for `env` and `run`. The vars of addons that are not ready
/// yet are missing: with `--wait` their ticks run first; without it a warning on
/// stderr names them, so an app does not quietly fall back to its defaults.
pub fn ready_vars(ctx: &Ctx, app: &str, ready: &ReadyArgs) -> anyhow::Result<Vec<ConfigVar>> {
    let timeout = parse_timeout(ready.timeout.as_deref())?;
    let Some(mut store) = open_app(ctx, app)? else { return Ok(Vec::new()) };
    let vars = store.config_vars(app)?;
    let not_ready: Vec<Addon> =
        store.list_addons(Some(app), false)?.into_iter().filter(|addon| addon.state != State::Ready).collect();
    if not_ready.is_empty() {
        return Ok(vars);
    }
    if ready.wait {
        // Nothing but the vars goes to stdout, and no note to stderr: wait as `-q` would.
        let silent = Ctx { json: false, quiet: true, ..ctx.clone() };
        let ids = not_ready.into_iter().map(|addon| addon.id).collect();
        wait_for(&silent, &ctx.engine(), &mut store, ids, timeout, Shape::Many)?;
        return store.config_vars(app);
    }
    if !ctx.quiet {
        let listed: Vec<String> = not_ready
            .iter()
            .map(|addon| format!("{} ({} {}: {})", addon.name, addon.provider, addon.state, addon.vars.join(", ")))
            .collect();
        eprintln!(
            "warning: app {app} has addons that are not ready yet, so their vars are missing: {}; \
             add --wait to wait for them",
            listed.join(", ")
        );
    }
    Ok(vars)
}

/// The app's config vars with values; an app nothing ever referred to is an error.
pub fn app_vars(ctx: &Ctx, app: &str) -> anyhow::Result<Vec<ConfigVar>> {
    open_app(ctx, app)?.map_or(Ok(Vec::new()), |store| store.config_vars(app))
}

/// The state file, for an app something referred to; `None` when there is none yet.
fn open_app(ctx: &Ctx, app: &str) -> anyhow::Result<Option<Store>> {
    let store = ctx.existing_store()?;
    if !known_app(store.as_ref(), app)? {
        return Err(usage(format!(
            "no app named {}{}; apps appear once an addon or config var refers to them ('addons list' shows them)",
            crate::names::shown(app),
            app_suggestion(store.as_ref(), app)?
        )));
    }
    Ok(store)
}

/// Single-quotes a value for POSIX shells.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(super::shell_quote("it's $x"), "'it'\\''s $x'");
    }
}
