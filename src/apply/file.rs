//! Reading an apply file: TOML with a `scope` and `[[addon]]` tables, every value checked
//! by the same rules as the command line, before anything is planned. A bad file is one
//! line naming the file, the line and the key (exit 2).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::addon::Params;
use crate::backup::Schedule;
use crate::error::usage;
use crate::labels::{check_value, Labels, MAX_LABELS, SCOPE_LABEL};
use crate::names::{self, shown};
use crate::providers;
use crate::spec::AddonSpec;

/// The largest apply file read: far above any real one, and a bound on what a stray
/// `-f /dev/zero` or a huge generated file costs.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// An apply file, checked: the desired addons in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyFile {
    /// As given with `-f`, for messages.
    pub path: PathBuf,
    /// The value of the [`SCOPE_LABEL`] label on every addon of this file.
    pub scope: String,
    pub addons: Vec<DesiredAddon>,
}

/// One `[[addon]]` of an apply file.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredAddon {
    pub name: String,
    pub spec: AddonSpec,
    /// The file's labels and the scope label: exactly the labels the live addon should carry.
    pub labels: Labels,
    /// How long after an apply the addon expires; `None`: never.
    pub expires_in: Option<Duration>,
    /// The live addon whose data a newly made addon starts as a copy of (`provision --from`).
    pub from: Option<String>,
    /// Its own backup schedule (`backup_every`, `backup_keep`), in place of its app's;
    /// `None`: its app's.
    pub backup_schedule: Option<Schedule>,
    /// The line of its `backup_every` (of its `[[addon]]` header when it has none), for
    /// the refusal of a provider without backups.
    pub backup_line: usize,
    /// The line of its `[[addon]]` header, for messages.
    pub line: usize,
}

impl ApplyFile {
    /// The desired addon of that name.
    pub fn addon(&self, name: &str) -> Option<&DesiredAddon> {
        self.addons.iter().find(|addon| addon.name == name)
    }

    /// The refusal of `addon`'s backup schedule by its provider, which has no backups
    /// (`why`, its provider's words): one line naming the file, the line and the key.
    pub fn refuse_schedule(&self, addon: &DesiredAddon, why: &str) -> anyhow::Error {
        usage(format!(
            "apply file {}, line {}: addon.backup_every: {} is a {} addon, which has no backups to schedule ({why}); \
             remove its backup_every and backup_keep",
            self.path.display(),
            addon.backup_line,
            addon.name,
            addon.spec.provider
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    scope: Option<Spanned<String>>,
    #[serde(default)]
    addon: Vec<Spanned<AddonDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddonDoc {
    name: Option<Spanned<String>>,
    provider: Option<Spanned<String>>,
    app: Option<Spanned<String>>,
    #[serde(rename = "as")]
    prefix: Option<Spanned<String>>,
    params: Option<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
    labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    expires_in: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    /// The provider's server, by its name in the config file (default: its default one).
    server: Option<Spanned<String>>,
    /// Its own backup schedule, in place of its app's.
    backup_every: Option<Spanned<String>>,
    backup_keep: Option<Spanned<i64>>,
}

/// Reads and checks an apply file. Any problem is a usage error (exit 2), before anything
/// is looked up in the state.
pub fn load(path: &Path) -> anyhow::Result<ApplyFile> {
    let refuse = |why: String| usage(format!("apply file {}: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => refuse("no such file; give the path of a TOML file with -f".into()),
        _ => refuse(format!("can't read it: {err}")),
    })?;
    let meta = file.metadata().map_err(|err| refuse(format!("can't read it: {err}")))?;
    if meta.is_dir() {
        return Err(refuse("is a directory; give the path of a TOML file with -f".into()));
    }
    let mut bytes = Vec::new();
    use std::io::Read;
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|err| refuse(format!("can't read it: {err}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "is larger than {} KiB; an apply file lists addons, not data",
            MAX_FILE_BYTES / 1024
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| refuse("is not UTF-8 text; write it as TOML".into()))?;
    parse(path, &text)
}

/// Parses and checks apply file text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> anyhow::Result<ApplyFile> {
    let place = Place { path, text };
    let doc: FileDoc = toml::from_str(text).map_err(|err| {
        let mut message = err.message().replace(['\n', '\r'], " ").trim().to_string();
        if message.contains("expected a sequence") && text.lines().any(|line| line.trim() == "[addon]") {
            message = "write each addon as [[addon]] (double brackets: there may be several), not [addon]".into();
        }
        let message = message.as_str();
        match err.span() {
            Some(span) => match crate::config::key_at(text, span.start) {
                Some(key) if !message.contains(key.rsplit('.').next().unwrap_or(&key)) => {
                    place.error(span, &key, message)
                }
                _ => usage(format!("{}: {message}", place.at(span))),
            },
            None => usage(format!("apply file {}: {message}", path.display())),
        }
    })?;
    let Some(scope) = doc.scope else {
        return Err(usage(format!(
            "apply file {}: no scope; add a first line such as scope = \"ci-pr-123\" (it labels every addon the file makes, and --prune touches only that scope)",
            path.display()
        )));
    };
    let scope_span = scope.span();
    let scope = scope.into_inner();
    if scope.is_empty() || check_value(SCOPE_LABEL, &scope).is_err() {
        return Err(place.error(
            scope_span,
            "scope",
            &format!(
                "{} is not a label value: use 1 to 63 letters, digits, '-', '_' and '.', beginning and ending with a letter or digit (e.g. ci-pr-123)",
                shown(&scope)
            ),
        ));
    }
    let mut addons: Vec<DesiredAddon> = Vec::with_capacity(doc.addon.len());
    for table in doc.addon {
        let span = table.span();
        let addon = desired(&place, span, table.into_inner(), &scope)?;
        check_against_earlier(&place, &addon, &addons)?;
        addons.push(addon);
    }
    Ok(ApplyFile { path: path.to_path_buf(), scope, addons })
}

/// Where in the file: builds the one-line messages.
struct Place<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Place<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())].matches('\n').count() + 1
    }

    fn at(&self, span: Range<usize>) -> String {
        format!("apply file {}, line {}", self.path.display(), self.line(&span))
    }

    fn error(&self, span: Range<usize>, key: &str, message: &str) -> anyhow::Error {
        usage(format!("{}: {key}: {message}", self.at(span)))
    }
}

fn desired(place: &Place<'_>, span: Range<usize>, doc: AddonDoc, scope: &str) -> anyhow::Result<DesiredAddon> {
    let line = place.line(&span);
    let required = |value: Option<Spanned<String>>, key: &str, example: &str| {
        value.ok_or_else(|| {
            place.error(span.clone(), "addon", &format!("this [[addon]] has no {key}; add {key} = \"{example}\""))
        })
    };
    let name = required(doc.name, "name", "pr-123-db")?;
    let provider = required(doc.provider, "provider", "postgres")?;
    let app = required(doc.app, "app", "pr-123")?;

    names::check_addon_name(name.get_ref())
        .map_err(|err| place.error(name.span(), "addon.name", &format!("{err:#}")))?;
    let info = providers::info(provider.get_ref()).ok_or_else(|| {
        place.error(provider.span(), "addon.provider", &providers::unknown_provider(provider.get_ref()))
    })?;
    names::check_app(app.get_ref()).map_err(|err| place.error(app.span(), "addon.app", &format!("{err:#}")))?;
    let prefix = match doc.prefix {
        Some(prefix) if !prefix.get_ref().is_empty() => {
            Some(names::normalize_prefix(prefix.get_ref()).map_err(|err| {
                let message = format!("{err:#}").replace("--as primary", "as = \"primary\"");
                place.error(prefix.span(), "addon.as", &message)
            })?)
        }
        _ => None,
    };

    let server = match doc.server {
        Some(server) if server.get_ref().is_empty() => {
            return Err(place.error(
                server.span(),
                "addon.server",
                "server is empty; name one of the provider's servers",
            ))
        }
        server => server.map(Spanned::into_inner).filter(|name| name != crate::spec::DEFAULT_SERVER),
    };
    let params = params_of(place, span.clone(), doc.params)?;
    providers::check_params(info, &params.0).map_err(|why| place.error(params.1, "addon.params", &why))?;
    let labels = labels_of(place, span, doc.labels, scope)?;

    let expires_in = doc
        .expires_in
        .map(|text| {
            crate::expiry::check_duration(text.get_ref())
                .map_err(|why| place.error(text.span(), "addon.expires_in", &why))
        })
        .transpose()?;

    let backup_line = doc.backup_every.as_ref().map_or(line, |every| place.line(&every.span()));
    let backup_schedule = schedule_of(place, doc.backup_every, doc.backup_keep)?;

    Ok(DesiredAddon {
        name: name.into_inner(),
        spec: AddonSpec { provider: info.name.to_string(), app: app.into_inner(), prefix, params: params.0, server },
        labels,
        expires_in,
        from: doc.from.map(Spanned::into_inner),
        backup_schedule,
        backup_line,
        line,
    })
}

/// An addon's own backup schedule, checked as the config file's `[apps.NAME]` keys are:
/// an interval of at least a second, a `backup_keep` of 1 or more, and never a
/// `backup_keep` without a `backup_every`.
fn schedule_of(
    place: &Place<'_>,
    every: Option<Spanned<String>>,
    keep: Option<Spanned<i64>>,
) -> anyhow::Result<Option<Schedule>> {
    let keep = match keep {
        Some(keep) if *keep.get_ref() < 1 => {
            let why = format!("must be 1 or more (how many scheduled backups are kept), not {}", keep.get_ref());
            return Err(place.error(keep.span(), "addon.backup_keep", &why));
        }
        Some(keep) if every.is_none() => {
            return Err(place.error(
                keep.span(),
                "addon.backup_keep",
                "backup_keep without backup_every: add backup_every = \"1d\" (how often to back up)",
            ))
        }
        keep => keep.map(|keep| *keep.get_ref() as usize),
    };
    let Some(every) = every else { return Ok(None) };
    let duration = crate::expiry::parse_duration(every.get_ref())
        .map_err(|why| place.error(every.span(), "addon.backup_every", &why))?;
    if duration < Duration::from_secs(1) {
        let why = format!("{} is too short: back up at most once a second (e.g. 1d)", shown(every.get_ref()));
        return Err(place.error(every.span(), "addon.backup_every", &why));
    }
    Ok(Some(Schedule { every: Duration::from_millis(duration.as_millis() as u64), keep }))
}

/// An addon's `params`, as the text `--param` would give (numbers and booleans written
/// out), with where they are for messages.
fn params_of(
    place: &Place<'_>,
    table_span: Range<usize>,
    doc: Option<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
) -> anyhow::Result<(Params, Range<usize>)> {
    let span = doc.as_ref().map_or(table_span, Spanned::span);
    let mut params = Params::new();
    for (key, value) in doc.map(Spanned::into_inner).unwrap_or_default() {
        names::check_param_key(key.get_ref()).map_err(|why| place.error(key.span(), "addon.params", &why))?;
        let text = match value.get_ref() {
            toml::Value::String(text) => text.clone(),
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Boolean(flag) => flag.to_string(),
            other => {
                let why = format!("a param is a string or a number, not a {}", other.type_str());
                return Err(place.error(value.span(), &format!("addon.params.{}", key.get_ref()), &why));
            }
        };
        params.insert(key.into_inner(), text);
    }
    Ok((params, span))
}

/// An addon's `labels`, each checked, and the scope label.
fn labels_of(
    place: &Place<'_>,
    table_span: Range<usize>,
    doc: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    scope: &str,
) -> anyhow::Result<Labels> {
    let doc = doc.unwrap_or_default();
    if doc.len() >= MAX_LABELS {
        return Err(place.error(
            table_span,
            "addon.labels",
            &format!("{} labels: an addon carries at most {MAX_LABELS}, the scope's included", doc.len()),
        ));
    }
    let mut labels = Labels::new();
    for (key, value) in doc {
        crate::labels::check_user_key(key.get_ref())
            .and_then(|()| labels.insert(key.get_ref().clone(), value.into_inner()))
            .map_err(|err| place.error(key.span(), "addon.labels", &format!("{err:#}")))?;
    }
    labels
        .insert(SCOPE_LABEL.to_string(), scope.to_string())
        .map_err(|err| place.error(table_span, "addon.labels", &format!("{err:#}")))?;
    Ok(labels)
}

/// Refuses an addon whose name an earlier one of the file has, or whose config vars an
/// earlier one gives the same app: both would fail half-way through an apply otherwise.
fn check_against_earlier(place: &Place<'_>, addon: &DesiredAddon, earlier: &[DesiredAddon]) -> anyhow::Result<()> {
    let here = |key: &str, message: String| {
        usage(format!("apply file {}, line {}: {key}: {message}", place.path.display(), addon.line))
    };
    if let Some(first) = earlier.iter().find(|other| other.name == addon.name) {
        return Err(here(
            "addon.name",
            format!(
                "{} is already the name of the addon on line {}; give each addon its own name",
                addon.name, first.line
            ),
        ));
    }
    let vars = vars_of(addon);
    for other in earlier.iter().filter(|other| other.spec.app == addon.spec.app) {
        if let Some(var) = vars_of(other).into_iter().find(|var| vars.contains(var)) {
            return Err(here(
                "addon.as",
                format!(
                    "the addon on line {} already gives app {} the config var {var}; give one of them a prefix, e.g. as = \"secondary\"",
                    other.line, addon.spec.app
                ),
            ));
        }
    }
    Ok(())
}

fn vars_of(addon: &DesiredAddon) -> Vec<String> {
    providers::info(&addon.spec.provider)
        .map(|info| info.vars.iter().map(|var| crate::names::prefixed(addon.spec.prefix.as_deref(), var)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
scope = "ci-pr-123"            # labels every addon it makes

[[addon]]
name = "pr-123-db"
provider = "postgres"
app = "pr-123"
as = ""                        # optional prefix
params = {}                    # optional
labels = { branch = "feature-x" }
expires_in = "7d"              # optional

[[addon]]
name = "pr-123-key"
provider = "secret"
app = "pr-123"
as = "signing"
params = { length = 64, alphabet = "hex" }
from = "main-key"
"#;

    fn parse_err(text: &str) -> String {
        let err = parse(Path::new("addons.toml"), text).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), crate::error::Exit::Usage);
        let message = format!("{err:#}");
        assert!(!message.contains('\n'), "{message}");
        message
    }

    #[test]
    fn the_issue_example_parses() {
        let file = parse(Path::new("addons.toml"), EXAMPLE).unwrap();
        assert_eq!(file.scope, "ci-pr-123");
        assert_eq!(file.addons.len(), 2);
        let db = &file.addons[0];
        assert_eq!(db.name, "pr-123-db");
        assert_eq!(
            db.spec,
            AddonSpec {
                provider: "postgres".into(),
                app: "pr-123".into(),
                prefix: None,
                params: Params::new(),
                server: None,
            }
        );
        assert_eq!(db.labels, Labels::from_pairs([("branch", "feature-x"), (SCOPE_LABEL, "ci-pr-123")]).unwrap());
        assert_eq!(db.expires_in, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!((db.from.as_deref(), db.line), (None, 4));
        let key = file.addon("pr-123-key").unwrap();
        assert_eq!(key.spec.prefix.as_deref(), Some("SIGNING"));
        assert_eq!(key.spec.params, Params::from([("alphabet".into(), "hex".into()), ("length".into(), "64".into())]));
        assert_eq!(key.labels, Labels::from_pairs([(SCOPE_LABEL, "ci-pr-123")]).unwrap());
        assert_eq!((key.expires_in, key.from.as_deref(), key.line), (None, Some("main-key"), 13));
        assert_eq!(key.backup_schedule, None);
        let scheduled = EXAMPLE.replace("expires_in = \"7d\"", "backup_every = \"12h\"\nbackup_keep = 14");
        let db = parse(Path::new("addons.toml"), &scheduled).unwrap().addons.remove(0);
        let every = Duration::from_secs(12 * 3600);
        assert_eq!(db.backup_schedule, Some(Schedule { every, keep: Some(14) }));
        assert_eq!((db.backup_line, db.line), (11, 4));
    }

    #[test]
    fn a_scope_alone_is_a_file_with_no_addons() {
        let file = parse(Path::new("f.toml"), "scope = \"x\"\n").unwrap();
        assert!(file.addons.is_empty());
    }

    #[test]
    fn every_bad_file_is_one_line_naming_file_line_and_key() {
        let addon = |body: &str| {
            format!("scope = \"s\"\n[[addon]]\nname = \"db\"\nprovider = \"secret\"\napp = \"web\"\n{body}\n")
        };
        for (text, expected) in [
            (String::new(), "apply file addons.toml: no scope; add a first line such as scope = \"ci-pr-123\""),
            ("scope = \"a b\"".into(), "apply file addons.toml, line 1: scope: \"a b\" is not a label value"),
            ("scope = \"\"".into(), "line 1: scope: \"\" is not a label value"),
            ("scope = 5".into(), "line 1: scope: invalid type: integer `5`, expected a string"),
            ("scope = \"s\"\nextra = 1".into(), "line 2: unknown field `extra`"),
            ("scope = \"s\"\n[[addon]]\nname = \"db\"".into(), "line 2: addon: this [[addon]] has no provider; add provider = \"postgres\""),
            ("scope = \"s\"\n[[addon]]\nprovider = \"secret\"".into(), "line 2: addon: this [[addon]] has no name"),
            (addon("nme = \"x\""), "line 6: unknown field `nme`, expected one of"),
            (addon("as = 5"), "line 6: addon.as: invalid type: integer `5`, expected a string"),
            (addon("as = \"a-b\""), "line 6: addon.as: invalid prefix \"a-b\": use up to 64 letters, digits and '_', starting with a letter (e.g. as = \"primary\")"),
            (addon("params = { size = \"3\" }"), "line 6: addon.params: unknown param \"size\" for the secret provider"),
            (addon("params = { Length = \"3\" }"), "line 6: addon.params: param key \"Length\" must be lowercase"),
            (addon("params = { length = 1.5 }"), "line 6: addon.params.length: a param is a string or a number, not a float"),
            (addon("params = { length = \"3\" }"), "line 6: addon.params: param length must be a whole number"),
            (addon("[addon.params]\nlength = \"3\""), "line 6: addon.params: param length"),
            (addon("labels = { \"a b\" = \"x\" }"), "line 6: addon.labels: invalid label key \"a b\""),
            (addon("labels = { branch = \"x y\" }"), "line 6: addon.labels: invalid value \"x y\" for label \"branch\""),
            (addon("labels = { \"addons/scope\" = \"other\" }"), "line 6: addon.labels: label \"addons/scope\" is set by addons itself"),
            (addon(&format!("labels = {{ {} }}", (0..64).map(|i| format!("k{i} = \"v\"")).collect::<Vec<_>>().join(", "))), "line 2: addon.labels: 64 labels: an addon carries at most 64, the scope's included"),
            (addon("labels = { branch = 1 }"), "line 6: addon.labels: invalid type: integer `1`, expected a string"),
            (addon("expires_in = \"0s\""), "line 6: addon.expires_in: duration \"0s\" is out of range"),
            (addon("expires_in = \"7\""), "line 6: addon.expires_in: invalid duration \"7\": write e.g. 7d, 12h or 30m"),
            (addon("expires_in = 7"), "line 6: addon.expires_in: invalid type: integer `7`"),
            (addon("backup_every = \"1d\"\nbackup_keep = 0"), "line 7: addon.backup_keep: must be 1 or more (how many scheduled backups are kept), not 0"),
            (addon("backup_keep = 3"), "line 6: addon.backup_keep: backup_keep without backup_every: add backup_every = \"1d\""),
            (addon("backup_every = \"1\""), "line 6: addon.backup_every: invalid duration \"1\": write e.g. 30s, 5m or 1h"),
            (addon("backup_every = \"500ms\""), "line 6: addon.backup_every: \"500ms\" is too short: back up at most once a second"),
            (addon("backup_every = \"0s\""), "line 6: addon.backup_every: duration \"0s\" is out of range"),
            (addon("backup_every = 5"), "line 6: addon.backup_every: invalid type: integer `5`, expected a string"),
            (addon("backup_every = \"1d\"\nbackup_keep = \"3\""), "line 7: addon.backup_keep: invalid type: string \"3\""),
            (addon("[addon.labels]\nbranch = \"a\"\nbranch = \"b\""), "line 8"),
            (addon("labels = { a = \"1\", a = \"2\" }"), "line 6"),
            ("scope = \"s\"\n[[addon]]\nname = \"DB\"\nprovider = \"secret\"\napp = \"web\"".into(), "line 3: addon.name: invalid addon name \"DB\""),
            ("scope = \"s\"\n[[addon]]\nname = \"db\"\nprovider = \"pg\"\napp = \"web\"".into(), "line 4: addon.provider: unknown provider \"pg\"; choose one of: secret, sqlite, postgres, mysql, redis"),
            ("scope = \"s\"\n[[addon]]\nname = \"db\"\nprovider = \"secret\"\napp = \"Web\"".into(), "line 5: addon.app: invalid app name \"Web\""),
            ("scope = \"s\"\n[addon]\nname = \"db\"".into(), "line 2: write each addon as [[addon]] (double brackets: there may be several), not [addon]"),
            ("scope = \"s\n".into(), "line 1: "),
            ("scope = \"s\"\n[[addon]\n".into(), "line 2: "),
            ("\0".into(), "line 1: "),
        ] {
            let message = parse_err(&text);
            assert!(message.starts_with("apply file addons.toml"), "{text:?}: {message}");
            assert!(message.contains(expected), "{text:?}:\n  got      {message}\n  expected {expected}");
        }
    }

    #[test]
    fn a_name_or_a_config_var_given_twice_is_refused_at_the_second() {
        let two = |second: &str| {
            format!(
                "scope = \"s\"\n[[addon]]\nname = \"db\"\nprovider = \"sqlite\"\napp = \"web\"\n[[addon]]\n{second}\n"
            )
        };
        assert_eq!(
            parse_err(&two("name = \"db\"\nprovider = \"sqlite\"\napp = \"api\"")),
            "apply file addons.toml, line 6: addon.name: db is already the name of the addon on line 2; give each addon its own name"
        );
        assert_eq!(
            parse_err(&two("name = \"db2\"\nprovider = \"postgres\"\napp = \"web\"")),
            "apply file addons.toml, line 6: addon.as: the addon on line 2 already gives app web the config var DATABASE_URL; give one of them a prefix, e.g. as = \"secondary\""
        );
        // Another app, or a prefix, and the vars no longer meet.
        assert!(parse(Path::new("a"), &two("name = \"db2\"\nprovider = \"postgres\"\napp = \"api\"")).is_ok());
        assert!(
            parse(Path::new("a"), &two("name = \"db2\"\nprovider = \"postgres\"\napp = \"web\"\nas = \"old\"")).is_ok()
        );
    }

    #[test]
    fn hostile_text_gives_one_line() {
        for text in [
            "scope = \"s\"\n[[addon]]\nname = \"a\nb\"".to_string(),
            format!("scope = \"{}\"", "x".repeat(100_000)),
            "scope = \"s\"\n[[addon]]\nname = \"db\"\nprovider = \"secret\"\napp = \"web\"\nlabels = { \"\u{202e}\" = \"x\" }".into(),
            "scope = \"s\"\r\n[[addon]]\r\nname = 1\r\n".into(),
            "[[addon]]\n".repeat(1000),
        ] {
            let message = parse_err(&text);
            assert!(message.len() < 500, "{message}");
        }
        // A byte-order mark, as some Windows editors write, is no error.
        assert_eq!(parse(Path::new("a"), "\u{feff}scope = \"s\"").unwrap().scope, "s");
    }

    #[test]
    fn files_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("addons.toml");
        std::fs::write(&path, EXAMPLE).unwrap();
        assert_eq!(load(&path).unwrap().addons.len(), 2);
        let message = |path: &Path| format!("{:#}", load(path).unwrap_err());
        assert!(message(&dir.path().join("none.toml"))
            .ends_with("none.toml: no such file; give the path of a TOML file with -f"));
        assert!(message(dir.path()).ends_with(": is a directory; give the path of a TOML file with -f"));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(message(&path).ends_with("is not UTF-8 text; write it as TOML"));
        std::fs::write(&path, "#".repeat(MAX_FILE_BYTES as usize + 1)).unwrap();
        assert!(message(&path).ends_with("is larger than 1024 KiB; an apply file lists addons, not data"));
    }
}
