//! `addons log`: every recorded transition of one addon.

use crate::cli::LogArgs;
use crate::output::{rfc3339, table, transition_json};

use super::Ctx;

/// Handles `addons log`.
pub fn run(args: LogArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let store = ctx.store_with_addons(&args.addon)?;
    let addon = store.addon(&args.addon)?;
    let events = store.events(&addon.id)?;
    if ctx.json {
        let docs: Vec<_> = events
            .iter()
            .map(|e| transition_json(&addon.name, e.at, e.from.as_deref(), &e.to, &e.event, &e.message))
            .collect();
        ctx.print_json(&serde_json::Value::Array(docs));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                rfc3339(e.at),
                e.from.clone().unwrap_or_else(|| "-".into()),
                e.to.clone(),
                e.event.clone(),
                e.message.clone(),
            ]
        })
        .collect();
    print!("{}", table(&["AT", "FROM", "TO", "EVENT", "MESSAGE"], &rows));
    Ok(())
}
