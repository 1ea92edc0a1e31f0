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
        let (configured, answers, status) = match engine.provider(info.name) {
            Err(_) => (false, false, format!("not configured: add [providers.{}] with a url", info.name)),
            Ok(provider) => match provider.health() {
                Ok(status) => (true, true, status),
                Err(ProviderError::Transient(message) | ProviderError::Permanent(message)) => (true, false, message),
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
        }));
        let state = match (configured, answers) {
            (false, _) => "not configured",
            (true, true) => "ok",
            (true, false) => "unreachable",
        };
        rows.push(vec![info.name.to_string(), state.to_string(), info.vars.join(","), status]);
    }
    if ctx.json {
        ctx.print_json(&serde_json::Value::Array(docs));
    } else {
        print!("{}", table(&["PROVIDER", "STATUS", "VARS", "DETAIL"], &rows));
    }
    Ok(0)
}
