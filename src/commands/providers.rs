//! `addons providers`: each provider, whether it is configured, and whether its server answers.

use serde_json::json;

use crate::output::table;
use crate::providers::{self, ProviderError};

use super::Ctx;

/// Handles `addons providers`.
pub fn run(ctx: &Ctx) -> anyhow::Result<i32> {
    let engine = ctx.engine();
    let mut docs = Vec::new();
    let mut rows = Vec::new();
    for info in providers::ALL {
        let (configured, answers, status, warnings) = match engine.provider(info.name) {
            Err(_) => (false, false, format!("not configured: add [providers.{}] with a url", info.name), Vec::new()),
            Ok(provider) => match provider.health() {
                Ok(status) => (true, true, status, provider.warnings()),
                Err(ProviderError::Transient(message) | ProviderError::Permanent(message)) => {
                    (true, false, message, Vec::new())
                }
            },
        };
        docs.push(json!({
            "name": info.name,
            "vars": info.vars,
            "params": info.params.iter().map(|p| p.key).collect::<Vec<_>>(),
            "configured": configured,
            "answers": answers,
            "status": status,
            "summary": info.summary,
            "warnings": warnings,
        }));
        let state = match (configured, answers) {
            (false, _) => "not configured",
            (true, true) => "ok",
            (true, false) => "unreachable",
        };
        let detail = warnings.iter().fold(status, |detail, warning| format!("{detail}; warning: {warning}"));
        rows.push(vec![info.name.to_string(), state.to_string(), info.vars.join(","), detail]);
    }
    if ctx.json {
        ctx.print_json(&serde_json::Value::Array(docs));
    } else {
        print!("{}", table(&["PROVIDER", "STATUS", "VARS", "DETAIL"], &rows));
    }
    Ok(0)
}
