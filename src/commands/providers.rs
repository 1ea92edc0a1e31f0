//! `addons providers`: each provider, whether it is configured, and whether its server
//! answers; with `--check`, a health check that fails when a configured one does not.
//! `addons providers add NAME [URL]`: checks a server, then writes its section.

use serde_json::json;

use crate::cli::{ProvidersAction, ProvidersAddArgs, ProvidersArgs};
use crate::engine::Engine;
use crate::error::{failed, usage};
use crate::output::table;
use crate::providers::{self, ProviderError, ProviderInfo};

use super::Ctx;

/// Handles `addons providers` and `addons providers add`.
pub fn run(args: ProvidersArgs, ctx: &Ctx) -> anyhow::Result<()> {
    if let Some(ProvidersAction::Add(add)) = args.action {
        return add_section(add, ctx);
    }
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
    for (doc, row, failures) in listings {
        docs.push(doc);
        rows.extend(row);
        silent.extend(failures);
    }
    if ctx.json {
        ctx.print_json(&serde_json::Value::Array(docs));
    } else {
        print!("{}", table(&["PROVIDER", "STATUS", "VARS", "DETAIL"], &rows));
        // The lines that configure the others, to paste as they are (not for a health
        // check, whose stderr is its one error line).
        let lacking: Vec<&ProviderInfo> = providers::ALL
            .iter()
            .copied()
            .filter(|info| info.example.is_some() && engine.provider(info.name).is_err())
            .collect();
        if !lacking.is_empty() && !args.check {
            let names: Vec<&str> = lacking.iter().map(|info| info.name).collect();
            let blocks: Vec<&str> = lacking.iter().filter_map(|info| info.example).collect();
            ctx.note(format!(
                "To configure {}, add to {} the lines below (with your URLs), or run 'addons providers add NAME [URL]':\n\n{}",
                names.join(", "),
                ctx.settings.path.display(),
                blocks.join("\n\n")
            ));
        }
    }
    if args.check && !silent.is_empty() {
        return Err(failed(format!("a configured server does not answer: {}", silent.join("; "))));
    }
    Ok(())
}

/// Handles `addons providers add NAME [URL]`: the section for URL (or for the server
/// found on this machine) is read as the config file would read it, its server must
/// answer with the rights the provider needs, and only then is it written into the
/// config file. A refusal writes nothing.
fn add_section(args: ProvidersAddArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let name = args.provider.as_str();
    let info = providers::info(name).ok_or_else(|| usage(providers::unknown_provider(name)))?;
    if info.example.is_none() {
        return Err(usage(format!(
            "the {name} provider runs without a [providers.{name}] section; there is none to add"
        )));
    }
    let path = ctx.settings.path.clone();
    let section = match &args.url {
        Some(url) => format!("[providers.{name}]\nurl = {}\n", providers::server::toml_string(url)),
        None => match (info.configure)(None)?.and_then(|config| config.section()) {
            Some(section) => section,
            None => {
                return Err(usage(format!(
                    "no {name} server found on this machine as its own client would find it; give its admin URL: addons providers add {name} {}",
                    info.example.and_then(|example| example.split('"').nth(1)).unwrap_or("URL")
                )))
            }
        },
    };
    // Read as the file will be: a bad URL is refused with the key it is under.
    let settings = crate::config::parse(&path, &section)?;
    let configs = providers::configure(&settings)?;
    let env = providers::Environment { data_dir: std::path::PathBuf::from(".") };
    let provider = providers::build(name, &configs, &env).map_err(usage)?;
    let health = provider.health().map_err(|err| failed(format!("nothing written to {}: {err}", path.display())))?;
    crate::config::add_provider_section(&path, name, &section)?;
    ctx.note(format!("Wrote [providers.{name}] to {}: {health}", path.display()));
    if ctx.json {
        ctx.print_json(&json!({"name": name, "config": path.display().to_string(), "detail": health}));
    }
    Ok(())
}

/// One provider's part of the listing, all from its registry entry and the provider the
/// settings build: its JSON document, its table row, and (when it is configured but does
/// not answer) the line `--check` fails with.
fn listing(info: &ProviderInfo, engine: &Engine) -> (serde_json::Value, Vec<Vec<String>>, Vec<String>) {
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
    // A server found on this machine says where and how, after what it answered.
    let found = engine.found(info.name);
    let detail = match &found {
        Some(how) => format!("{detail}; found {how}"),
        None => detail,
    };
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
        "found": found,
    });
    let detail = warnings.iter().fold(detail, |detail, warning| format!("{detail}; warning: {warning}"));
    let mut rows = vec![vec![info.name.to_string(), status.to_string(), info.vars.join(","), detail]];
    let mut failures = Vec::from_iter(failure);
    let mut doc = doc;
    // Its other servers, each with its own health.
    let mut servers = Vec::new();
    for server in providers::servers_of(info.name, engine.configs()).into_iter().skip(1) {
        let answer = engine.provider_on(info.name, &server).map_err(ProviderError::Permanent);
        let (status, detail) = match answer.and_then(|provider| provider.health()) {
            Ok(detail) => ("ok", detail),
            Err(ProviderError::Transient(message) | ProviderError::Permanent(message)) => {
                failures.push(format!("{} server {server}: {message}", info.name));
                ("unreachable", message)
            }
        };
        rows.push(vec![format!("{} ({server})", info.name), status.to_string(), info.vars.join(","), detail.clone()]);
        servers.push(json!({"name": server, "status": status, "detail": detail}));
    }
    doc["servers"] = servers.into();
    (doc, rows, failures)
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
        assert_eq!(row, [["fake", "ok", "FAKE_URL", "fake at h.example"]]);
        assert_eq!(failure, Vec::<String>::new());
        assert_eq!(doc["params"], json!(["flavour"]));
        assert_eq!(doc["summary"], "a resource made of nothing, for tests");
        let (_, row, _) = listing(&fake::INFO, &engine(""));
        assert_eq!(row, [["fake", "not configured", "FAKE_URL", "not configured: add [providers.fake] with a host"]]);
        assert!(providers::ALL.iter().any(|info| info.name == "fake"), "run lists every registered provider");
    }
}
