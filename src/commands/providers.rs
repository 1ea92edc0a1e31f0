//! `addons providers`: each provider, whether it is configured, and whether its server
//! answers; with `--check`, a health check that fails when a configured one does not.

use serde_json::json;

use crate::cli::ProvidersArgs;
use crate::engine::Engine;
use crate::error::failed;
use crate::output::table;
use crate::providers::{self, ProviderError, ProviderInfo};

use super::Ctx;

/// Handles `addons providers`.
pub fn run(args: ProvidersArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let engine = ctx.engine();
    let mut docs = Vec::new();
    let mut rows = Vec::new();
    let mut silent = Vec::new();
    // Each server is asked at once, so servers that do not answer hold the listing up
    // for one connect_timeout, not one each.
    let listings: Vec<_> = std::thread::scope(|scope| {
        let asked: Vec<_> = providers::ALL.iter().map(|info| scope.spawn(|| listing(info, &engine))).collect();
        asked.into_iter().map(|asking| asking.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    for (doc, row, failure) in listings {
        docs.push(doc);
        rows.push(row);
        silent.extend(failure);
    }
    if ctx.json {
        ctx.print_json(&serde_json::Value::Array(docs));
    } else {
        print!("{}", table(&["PROVIDER", "STATUS", "VARS", "DETAIL"], &rows));
    }
    if args.check && !silent.is_empty() {
        return Err(failed(format!("a configured server does not answer: {}", silent.join("; "))));
    }
    Ok(())
}

/// One provider's part of the listing, all from its registry entry and the provider the
/// settings build: its JSON document, its table row, and (when it is configured but does
/// not answer) the line `--check` fails with.
fn listing(info: &ProviderInfo, engine: &Engine) -> (serde_json::Value, Vec<String>, Option<String>) {
    let (configured, answers, detail, warnings) = match engine.provider(info.name) {
        Err(_) => (false, false, format!("not configured: add {}", info.lacking()), Vec::new()),
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
    let failure = (configured && !answers).then(|| format!("{}: {detail}", info.name));
    let doc = json!({
        "name": info.name,
        "vars": info.vars,
        "params": info.params.iter().map(|p| p.key).collect::<Vec<_>>(),
        "configured": configured,
        "answers": answers,
        "status": status,
        "detail": detail,
        "summary": info.summary,
        "warnings": warnings,
    });
    let detail = warnings.iter().fold(detail, |detail, warning| format!("{detail}; warning: {warning}"));
    (doc, vec![info.name.to_string(), status.to_string(), info.vars.join(","), detail], failure)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::*;
    use crate::providers::{fake, Environment};

    fn engine(config: &str) -> Engine {
        let settings = crate::config::parse(Path::new("/etc/addons.toml"), config).unwrap();
        let configs = crate::providers::configure(&settings).unwrap();
        Engine::new(
            settings,
            configs,
            Environment { data_dir: PathBuf::from("/nonexistent") },
            Arc::new(AtomicBool::new(false)),
        )
    }

    #[test]
    fn a_provider_is_listed_from_its_registry_entry() {
        let (doc, row, failure) = listing(&fake::INFO, &engine("[providers.fake]\nhost = \"h.example\"\n"));
        assert_eq!(row, ["fake", "ok", "FAKE_URL", "fake at h.example"]);
        assert_eq!(failure, None);
        assert_eq!(doc["params"], json!(["flavour"]));
        assert_eq!(doc["summary"], "a resource made of nothing, for tests");
        let (_, row, _) = listing(&fake::INFO, &engine(""));
        assert_eq!(row, ["fake", "not configured", "FAKE_URL", "not configured: add [providers.fake] with a host"]);
        assert!(providers::ALL.iter().any(|info| info.name == "fake"), "run lists every registered provider");
    }
}
