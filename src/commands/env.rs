//! `addons env`: an app's config vars, unmasked, for `eval`, a dotenv file or a script.

use crate::cli::{EnvArgs, EnvFormat};
use crate::error::usage;
use crate::store::ConfigVar;

use super::{app_suggestion, known_app, Ctx};

/// Handles `addons env`.
pub fn run(args: EnvArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let vars = app_vars(ctx, &args.app)?;
    let format = if ctx.json { EnvFormat::Json } else { args.format };
    match format {
        EnvFormat::Shell => {
            for var in &vars {
                println!("export {}={}", var.key, shell_quote(&var.value));
            }
        }
        EnvFormat::Dotenv => {
            let text = crate::dotenv::render(&vars)
                .map_err(|err| usage(format!("{err}; use --format shell or --format json, or change the value")))?;
            print!("{text}");
        }
        EnvFormat::Json => {
            let doc: serde_json::Map<String, serde_json::Value> =
                vars.into_iter().map(|var| (var.key, var.value.into())).collect();
            ctx.print_json(&doc.into());
        }
    }
    Ok(0)
}

/// The app's config vars with values; an app nothing ever referred to is an error.
pub fn app_vars(ctx: &Ctx, app: &str) -> anyhow::Result<Vec<ConfigVar>> {
    let store = ctx.existing_store()?;
    if !known_app(store.as_ref(), app)? {
        return Err(usage(format!(
            "no app named {}{}; apps appear once an addon or config var refers to them ('addons list' shows them)",
            crate::names::shown(app),
            app_suggestion(store.as_ref(), app)?
        )));
    }
    store.map_or(Ok(Vec::new()), |store| store.config_vars(app))
}

/// Single-quotes a value for POSIX shells.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(super::shell_quote("it's $x"), "'it'\\''s $x'");
    }
}
