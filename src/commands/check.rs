//! `addons check`: compares ready addons' resources with what was made, now, repairs
//! what it can, and prints a table. Exit 1 when drift remains or an addon could not be
//! checked (its server did not answer, or another process held it).

use serde_json::json;

use crate::cli::CheckArgs;
use crate::engine::Check;
use crate::error::Failure;
use crate::machine::State;
use crate::output::table;

use super::Ctx;

/// Handles `addons check`.
pub fn run(args: CheckArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let mut store = match args.addons.first() {
        Some(name) => ctx.store_with_addons(name)?,
        None => match ctx.existing_store()? {
            Some(store) => store,
            None => return print(ctx, &[]),
        },
    };
    // Resolve every name first, so one typo checks nothing.
    let targets = match args.all {
        true => store.list_addons(None, false)?.into_iter().filter(|addon| addon.state == State::Ready).collect(),
        false => args.addons.iter().map(|name| store.addon(name)).collect::<anyhow::Result<Vec<_>>>()?,
    };
    let engine = ctx.engine();
    if !args.all {
        for target in &targets {
            engine.check_bound(target)?;
        }
    }
    let checks = engine.check_now(&mut store, &targets, args.repair_data)?;
    print(ctx, &checks)
}

/// Prints the table (or JSON); [`Failure::Said`] (exit 1) when drift remains or an
/// addon could not be checked, as the table says.
fn print(ctx: &Ctx, checks: &[Check]) -> anyhow::Result<()> {
    let status = |check: &Check| match (check.error.is_some(), check.left.is_empty(), check.found.is_empty()) {
        _ if check.busy => "busy",
        (true, _, _) => "unknown",
        (false, false, _) => "drift",
        (false, true, false) => "repaired",
        (false, true, true) => "ok",
    };
    if ctx.json {
        let docs: Vec<_> = checks
            .iter()
            .map(|c| {
                json!({"name": c.name, "provider": c.provider, "status": status(c), "found": c.found,
                       "repaired": c.repaired, "left": c.left, "error": c.error})
            })
            .collect();
        ctx.print_json(&serde_json::Value::Array(docs));
    } else {
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                let detail = match (&c.error, c.left.is_empty()) {
                    (Some(error), _) => error.clone(),
                    (None, false) => format!("{} ('--repair-data' recreates it empty)", c.left.join("; ")),
                    (None, true) => c.repaired.join("; "),
                };
                vec![c.name.clone(), c.provider.clone(), status(c).to_string(), detail]
            })
            .collect();
        print!("{}", table(&["NAME", "PROVIDER", "STATUS", "DETAIL"], &rows));
    }
    match checks.iter().any(Check::failed) {
        true => Err(Failure::Said.into()),
        false => Ok(()),
    }
}
