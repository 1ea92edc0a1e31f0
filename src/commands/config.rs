//! `addons config`: show an app's config vars (masked unless `--reveal`), or set and
//! unset vars by hand. Vars owned by addons can't be set or unset here. A secret value
//! can come on stdin, where `ps` can't see it.

use std::io::{IsTerminal, Read};

use crate::cli::{ConfigAction, ConfigArgs};
use crate::error::usage;
use crate::masking::masked;
use crate::names;
use crate::output::{table, vars_rows};
use crate::store::Store;

use super::Ctx;

/// Handles `addons config`.
pub fn run(args: ConfigArgs, ctx: &Ctx) -> anyhow::Result<()> {
    match args.action {
        Some(ConfigAction::Set { app, pairs }) => set(ctx, &app, &pairs),
        Some(ConfigAction::Unset { app, keys }) => unset(ctx, &app, &keys),
        None => show(ctx, args.app.as_deref().unwrap_or_default(), args.reveal),
    }
}

fn show(ctx: &Ctx, app: &str, reveal: bool) -> anyhow::Result<()> {
    let vars = super::env::app_vars(ctx, app)?;
    if ctx.json {
        let doc: serde_json::Map<String, serde_json::Value> = vars
            .iter()
            .map(|var| (var.key.clone(), if reveal { var.value.clone() } else { masked(&var.value) }.into()))
            .collect();
        ctx.print_json(&doc.into());
    } else if vars.is_empty() {
        ctx.note(format!("App {app} has no config vars."));
    } else {
        print!("{}", table(&["KEY", "VALUE", "SOURCE"], &vars_rows(&vars, reveal)));
    }
    Ok(())
}

fn set(ctx: &Ctx, app: &str, raw: &[String]) -> anyhow::Result<()> {
    names::check_app(app)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut from_stdin: Option<usize> = None;
    for item in raw {
        // `KEY` and `KEY=-` take their value from stdin.
        let (key, value) = match item.split_once('=') {
            Some((key, "-")) => (key, None),
            Some((key, value)) => (key, Some(value)),
            None => (item.as_str(), None),
        };
        names::check_var_key(key)?;
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(usage(format!("{key} is given twice; give it once")));
        }
        if value.is_none() {
            if let Some(first) = from_stdin {
                return Err(usage(format!(
                    "{} and {key} both ask for their value from stdin; only one can, give the others as KEY=VALUE",
                    pairs[first].0
                )));
            }
            from_stdin = Some(pairs.len());
        }
        pairs.push((key.to_string(), value.unwrap_or_default().to_string()));
    }
    if let Some(index) = from_stdin {
        pairs[index].1 = value_from_stdin(ctx, app, &pairs[index].0)?;
    }
    if ctx.settings.apps.get(app).is_some_and(|settings| settings.env_file.is_some()) {
        // Refused before anything is stored: the env file could not hold the value.
        for (key, value) in &pairs {
            crate::dotenv::check(value).map_err(|why| {
                let unwritable = crate::dotenv::Unwritable { key: key.clone(), why };
                usage(format!(
                    "{unwritable}; app {app} has an env file (apps.{app}.env_file), so set a value without it"
                ))
            })?;
        }
    }
    let mut store = ctx.store()?;
    store.set_config_vars(app, &pairs)?;
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    finish(ctx, &mut store, app, &keys, "Set")
}

/// The longest value `config set` reads from stdin: a certificate or a key fits, an
/// accidentally piped file does not.
const STDIN_LIMIT: u64 = 1 << 20;

/// Reads the one value given on stdin: all of it, less one trailing newline. Nothing at
/// all on stdin (`/dev/null`, a closed stdin) is refused rather than taken as empty.
fn value_from_stdin(ctx: &Ctx, app: &str, key: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin().lock();
    if stdin.is_terminal() {
        ctx.note(format!("Reading the value of {key} from stdin; end it with Ctrl-D."));
    }
    let mut bytes = Vec::new();
    ctx.reading(|| stdin.take(STDIN_LIMIT + 1).read_to_end(&mut bytes))?.map_err(|err| {
        usage(format!("can't read the value of {key} from stdin ({err}); pipe it in, or write {key}=VALUE"))
    })?;
    if bytes.is_empty() {
        return Err(usage(format!(
            "no value for {key} on stdin; pipe it in (printf '%s' \"$VALUE\" | addons config set {app} {key}) or write {key}=VALUE"
        )));
    }
    if bytes.len() as u64 > STDIN_LIMIT {
        return Err(usage(format!("the value of {key} on stdin is longer than 1 MiB; give a shorter one")));
    }
    let mut value =
        String::from_utf8(bytes).map_err(|_| usage(format!("the value of {key} on stdin is not UTF-8 text")))?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.contains('\0') {
        return Err(usage(format!(
            "the value of {key} on stdin holds a NUL character, which no environment variable can"
        )));
    }
    Ok(value)
}

fn unset(ctx: &Ctx, app: &str, keys: &[String]) -> anyhow::Result<()> {
    names::check_app(app)?;
    for key in keys {
        names::check_var_key(key)?;
    }
    let Some(mut store) = ctx.existing_store()? else {
        return Err(usage(format!("app {app} has no config var {}; there is no state file yet", keys[0])));
    };
    store.unset_config_vars(app, keys)?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    finish(ctx, &mut store, app, &keys, "Unset")
}

/// Writes the app's env file after a committed change, and says what was done.
fn finish(ctx: &Ctx, store: &mut Store, app: &str, keys: &[&str], verb: &str) -> anyhow::Result<()> {
    let done = format!("{} {} on app {app}", verb.to_lowercase(), keys.join(", "));
    let synced = super::sync_env_files(ctx, &ctx.engine(), store, &[app.to_string()], &done);
    if ctx.json {
        ctx.print_json(&serde_json::json!({"app": app, "keys": keys}));
    }
    synced?;
    ctx.note(format!("{verb} {} on app {app}.", keys.join(", ")));
    Ok(())
}
