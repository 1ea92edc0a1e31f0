//! `addons providers`: each provider, whether it is configured, and whether its server
//! answers; with `--check`, a health check that fails when a configured one does not.

use serde_json::json;

use crate::cli::ProvidersArgs;
use crate::error::failed;
use crate::output::table;
use crate::providers::{self, ProviderError};

use super::Ctx;

/// Handles `addons providers`.
pub fn run(args: ProvidersArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let engine = ctx.engine();
    let mut docs = Vec::new();
    let mut rows = Vec::new();
    let mut silent = Vec::new();
    for info in providers::ALL {
        let (configured, answers, detail, warnings) = match engine.provider(info.name) {
            Err(_) => (false, false, format!("not configured: add [providers.{}] with a url", info.name), Vec::new()),
            Ok(provider) => match provider.health() {
                Ok(detail) => (true, true, detail, provider.warnings()),
                Err(ProviderError::Transient(message) | ProviderError::Permanent(message)) => {
                    (true, false, message, Vec::new())
                }
            },
        };
        let status = match (configured, answers) {
            (false, _) => "not configured",
            (true, true) => "ok",
            (true, false) => "unreachable",
        };
        if configured && !answers {
            silent.push(format!("{}: {detail}", info.name));
        }
        docs.push(json!({
            "name": info.name,
            "vars": info.vars,
            "params": info.params.iter().map(|p| p.key).collect::<Vec<_>>(),
            "configured": configured,
            "answers": answers,
            "status": status,
            "detail": detail,
            "summary": info.summary,
            "warnings": warnings,
        }));
        let detail = warnings.iter().fold(detail, |detail, warning| format!("{detail}; warning: {warning}"));
        rows.push(vec![info.name.to_string(), status.to_string(), info.vars.join(","), detail]);
    }
    if ctx.json {
        ctx.print_json(&serde_json::Value::Array(docs));
    } else {
        print!("{}", table(&["PROVIDER", "STATUS", "VARS", "DETAIL"], &rows));
    }
    if args.check && !silent.is_empty() {
        return Err(failed(format!("a configured server does not answer: {}", silent.join("; "))));
    }
    Ok(0)
}
