//! `addons graph`: the transition table drawn as DOT or Mermaid.

use crate::cli::{GraphArgs, GraphFormat};
use crate::machine;

use super::Ctx;

/// Handles `addons graph`.
pub fn run(args: GraphArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let text = match args.format {
        GraphFormat::Dot => machine::graph_dot(),
        GraphFormat::Mermaid => machine::graph_mermaid(),
    };
    if ctx.json {
        let transitions: Vec<_> = machine::TRANSITIONS
            .iter()
            .map(|(from, event, to)| serde_json::json!({"from": from.as_str(), "event": event.as_str(), "to": to.as_str()}))
            .collect();
        ctx.print_json(&serde_json::json!({"transitions": transitions, "graph": text}));
    } else {
        print!("{text}");
    }
    Ok(())
}
