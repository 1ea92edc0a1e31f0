//! `addons info`: one addon in full, with its config vars masked unless `--reveal`.

use std::time::Duration;

use crate::addon::Addon;
use crate::cli::InfoArgs;
use crate::machine::State;
use crate::masking::masked;
use crate::output::{addon_json, rfc3339};

use super::Ctx;

/// Handles `addons info`.
pub fn run(args: InfoArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let store = ctx.store_with_addons(&args.addon)?;
    let addon = store.addon(&args.addon)?;
    let values = addon.config.clone().unwrap_or_default();
    let shown = |key: &String| values.get(key).map(|value| if args.reveal { value.clone() } else { masked(value) });
    let env_file_failure = crate::envfile::recorded_failures(&store, &ctx.settings, Some(&addon.app))?.pop();
    let retry = retry_line(&addon, store.now()?);
    let hook = super::hooks::summary(Some(&store), ctx, &addon.app)?;
    if ctx.json {
        let mut doc = addon_json(&addon);
        doc["last_error"] = addon.last_error.clone().into();
        doc["retry"] = retry.into();
        doc["env_file_error"] = env_file_failure.map(|failure| failure.to_string()).into();
        let login = addon.login;
        let revocation = login.revoke_from.zip(login.revoke_at).map(|(from, at)| {
            serde_json::json!({"generations": (from..login.generation).collect::<Vec<_>>(), "at": rfc3339(at)})
        });
        doc["drift"] = addon.drift.clone().into();
        doc["hook"] = hook.into();
        doc["credential"] = serde_json::json!({
            "generation": login.generation,
            "vars_generation": login.vars_generation.unwrap_or_default(),
            "revocation": revocation,
        });
        let config: serde_json::Map<String, serde_json::Value> =
            addon.vars.iter().filter_map(|key| shown(key).map(|v| (key.clone(), v.into()))).collect();
        doc["config"] = config.into();
        ctx.print_json(&doc);
        return Ok(());
    }
    let mut state = addon.state.to_string();
    if addon.state.is_terminal() {
        state += &format!(" (cleanup {})", addon.cleanup.as_str());
    }
    let params = addon.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
    let mut fields = vec![
        ("name", addon.name.clone()),
        ("id", addon.id.clone()),
        ("provider", addon.provider.clone()),
        ("app", addon.app.clone()),
        ("prefix", addon.prefix.clone().unwrap_or_else(|| "-".into())),
        ("params", if params.is_empty() { "-".into() } else { params }),
        ("state", state),
        ("message", addon.message.clone()),
        ("labels", if addon.labels.is_empty() { "-".into() } else { addon.labels.to_string() }),
        ("expires", addon.expires_at.map_or_else(|| "never".into(), rfc3339)),
        ("created", rfc3339(addon.created_at)),
        ("updated", rfc3339(addon.updated_at)),
    ];
    let extra = [
        ("failure", addon.failure.clone()),
        ("retrying", retry),
        ("env file", env_file_failure.map(|f| f.to_string())),
        ("drift", addon.drift.clone()),
        ("server", addon.server.clone()),
        ("login", credential_line(&addon)),
        ("revoking", revocation_line(&addon)),
        ("hook", hook),
    ];
    let at = fields.iter().position(|(key, _)| *key == "created").unwrap_or(fields.len());
    for (key, value) in extra.into_iter().rev() {
        if let Some(value) = value {
            fields.insert(at, (key, value));
        }
    }
    for (key, value) in fields {
        println!("{key:<9} {value}");
    }
    if !addon.attachments.is_empty() {
        println!("apps");
        println!("  {} (owner){}", addon.app, addon.prefix.as_ref().map_or(String::new(), |p| format!(" as {p}")));
        for attachment in &addon.attachments {
            let prefix = attachment.prefix.as_ref().map_or(String::new(), |p| format!(" as {p}"));
            let access = if attachment.access.is_read_only() { ", read-only" } else { "" };
            println!("  {} ({}{access}){prefix}", attachment.app, attachment.state);
        }
    }
    println!("vars");
    for key in &addon.vars {
        let missing = if addon.state.is_terminal() { "(removed from the app)" } else { "(not set yet)" };
        println!("  {key}={}", shown(key).filter(|_| !addon.state.is_terminal()).unwrap_or_else(|| missing.into()));
    }
    Ok(())
}

/// The credential generation of a rotated addon: "generation 2", or "generation 1,
/// switching to 2" while the new login is being made.
fn credential_line(addon: &Addon) -> Option<String> {
    let login = addon.login;
    match (login.generation, login.vars_generation.unwrap_or_default()) {
        (0, _) => None,
        (wanted, held) if wanted == held => Some(format!("generation {wanted}")),
        (wanted, held) => Some(format!("generation {held}, switching to {wanted}")),
    }
}

/// The pending revocation: "generations 0 to 1 at <time>".
fn revocation_line(addon: &Addon) -> Option<String> {
    let login = addon.login;
    let (from, at) = login.revoke_from.zip(login.revoke_at)?;
    let last = login.generation.saturating_sub(1);
    let which = match from == last {
        true => format!("generation {from}"),
        false => format!("generations {from} to {last}"),
    };
    Some(format!("{which} at {}", rfc3339(at)))
}

/// The latest failed attempt and when the next one comes: "attempt 3 failed: ...;
/// next try in 4s, gives up at ..." (a cleanup never gives up). `now`: the state's clock.
fn retry_line(addon: &Addon, now: i64) -> Option<String> {
    let (why, due_at) = (addon.last_error.as_ref()?, addon.due_at?);
    let wait = Duration::from_secs(((due_at - now).max(0) as u64).div_ceil(1000));
    let until = match addon.state {
        State::WaitingForProvision | State::Provisioned => format!("gives up at {}", rfc3339(addon.deadline_at)),
        _ => "retried until it succeeds".to_string(),
    };
    Some(format!("attempt {} failed: {why}; next try in {}, {until}", addon.attempts, humantime::format_duration(wait)))
}
