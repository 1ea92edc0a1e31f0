//! Validation of user-supplied names (apps, addons, prefixes, config var keys) and
//! generation of addon display names and ids.

use rand::Rng;

use crate::error::usage;

const ADJECTIVES: &[&str] = &[
    "amber",
    "ancient",
    "autumn",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "cool",
    "crimson",
    "curly",
    "damp",
    "dawn",
    "deep",
    "eager",
    "early",
    "fancy",
    "gentle",
    "gold",
    "green",
    "hidden",
    "holy",
    "icy",
    "jolly",
    "keen",
    "late",
    "lively",
    "lucky",
    "misty",
    "morning",
    "muddy",
    "noble",
    "odd",
    "patient",
    "plain",
    "polished",
    "proud",
    "purple",
    "quiet",
    "rapid",
    "red",
    "rough",
    "round",
    "royal",
    "rustic",
    "shy",
    "silent",
    "small",
    "snowy",
    "solitary",
    "sparkling",
    "spring",
    "still",
    "summer",
    "swift",
    "tiny",
    "twilight",
    "wandering",
    "wild",
    "winter",
];

const NOUNS: &[&str] = &[
    "bird",
    "breeze",
    "brook",
    "bush",
    "butterfly",
    "cherry",
    "cloud",
    "darkness",
    "dawn",
    "dew",
    "dream",
    "dust",
    "feather",
    "field",
    "fire",
    "firefly",
    "flower",
    "fog",
    "forest",
    "frog",
    "frost",
    "glade",
    "glitter",
    "grass",
    "haze",
    "hill",
    "lake",
    "leaf",
    "meadow",
    "moon",
    "morning",
    "mountain",
    "night",
    "paper",
    "pine",
    "pond",
    "rain",
    "resonance",
    "river",
    "sea",
    "shadow",
    "shape",
    "silence",
    "sky",
    "smoke",
    "snow",
    "sound",
    "star",
    "sun",
    "sunset",
    "surf",
    "thunder",
    "tree",
    "violet",
    "water",
    "wave",
    "wildflower",
    "wind",
    "wood",
];

/// Checks an app name against `^[a-z0-9][a-z0-9-]{0,62}$`.
pub fn check_app(name: &str) -> anyhow::Result<()> {
    check_slug(name, "app name")
}

/// Checks an addon name given with `--name` (same rules as app names).
pub fn check_addon_name(name: &str) -> anyhow::Result<()> {
    check_slug(name, "addon name")
}

fn check_slug(name: &str, what: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid {what} {}: use 1 to 63 lowercase letters, digits and '-', starting with a letter or digit (e.g. my-app)",
            shown(name)
        )))
    }
}

/// Checks and normalises a `--as` prefix: `[0-9A-Za-z_]`, upper-cased.
pub fn normalize_prefix(prefix: &str) -> anyhow::Result<String> {
    let valid =
        !prefix.is_empty() && prefix.len() <= 64 && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let upper = prefix.to_ascii_uppercase();
    if valid && upper.as_bytes()[0].is_ascii_uppercase() {
        Ok(upper)
    } else {
        Err(usage(format!(
            "invalid prefix {}: use up to 64 letters, digits and '_', starting with a letter (e.g. --as primary)",
            shown(prefix)
        )))
    }
}

/// Checks a config var key against `^[A-Z][A-Z0-9_]*$`.
pub fn check_var_key(key: &str) -> anyhow::Result<()> {
    let valid = key.len() <= 255
        && key.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid config var key {}: use uppercase letters, digits and '_', starting with a letter (e.g. API_TOKEN)",
            shown(key)
        )))
    }
}

/// Checks a provider param key (`--param KEY=VALUE`, an apply file's `params`): lowercase
/// letters, digits and '_'. Which keys a provider takes is the registry's check.
pub fn check_param_key(key: &str) -> Result<(), String> {
    if !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(())
    } else {
        Err(format!("param key {} must be lowercase letters, digits and '_' (e.g. length)", shown(key)))
    }
}

/// A user-supplied string made safe to echo in a one-line message: quoted,
/// control characters escaped, and cut short when absurdly long.
pub fn shown(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() > MAX {
        let head: String = value.chars().take(MAX).collect();
        format!("{:?}... ({} chars)", head, value.chars().count())
    } else {
        format!("{value:?}")
    }
}

/// The candidate a mistyped name most likely meant: one that differs only in case,
/// else the most similar (Jaro-Winkler, as clap rates subcommands) when it is close
/// enough to be a typo. `None` for names too long to be typos of anything.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    const CLOSE_ENOUGH: f64 = 0.8;
    if typed.is_empty() || typed.len() > 100 {
        return None;
    }
    let candidates: Vec<&str> = candidates.into_iter().filter(|candidate| *candidate != typed).collect();
    if let Some(same) = candidates.iter().find(|candidate| candidate.eq_ignore_ascii_case(typed)) {
        return Some(same);
    }
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(typed, candidate), candidate))
        .filter(|(score, _)| *score >= CLOSE_ENOUGH)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// The known app a new app name is likely a typo of: within two edits (a letter added,
/// dropped, changed, or two swapped), the fewest first. Names of three characters or
/// fewer are left alone (two edits are most of them), and so are names that differ
/// only in their digits (`pr-101` and `pr-102` are a series, not a typo).
pub fn near_app<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    const EDITS: usize = 2;
    let letters = |name: &str| name.chars().filter(|c| !c.is_ascii_digit()).collect::<String>();
    if typed.chars().count() <= 3 {
        return None;
    }
    known
        .into_iter()
        .filter(|app| *app != typed && letters(app) != letters(typed))
        .map(|app| (strsim::osa_distance(typed, app), app))
        .filter(|(edits, _)| *edits <= EDITS)
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, app)| app)
}

/// `" (did you mean NAME?)"` for the [`closest`] candidate, or nothing: the tail of a
/// "no such name" message.
pub fn did_you_mean<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(typed, candidates).map_or_else(String::new, |name| format!(" (did you mean {name}?)"))
}

/// A fresh display name, `<adjective>-<noun>-<6 hex digits>`.
pub fn generate_addon_name() -> String {
    let mut rng = rand::rng();
    let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let noun = NOUNS[rng.random_range(0..NOUNS.len())];
    format!("{adjective}-{noun}-{:06x}", rng.random_range(0..0x100_0000u32))
}

/// A fresh immutable addon id: 16 lowercase hex digits from the OS's CSPRNG.
/// Every external resource name derives from it.
pub fn generate_addon_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).expect("the OS random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

use rand::TryRngCore;

/// A count with its noun, plural unless it is one: `1 addon`, `2 addons`.
pub fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// A provider's var name with an addon's or attachment's prefix applied: `PREFIX_VAR`.
pub fn prefixed(prefix: Option<&str>, var: &str) -> String {
    match prefix {
        Some(prefix) => format!("{prefix}_{var}"),
        None => var.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case::a_letter_dropped("myap", Some("myapp"))]
    #[case::a_letter_added("myappp", Some("myapp"))]
    #[case::two_swapped("mpyapp", Some("myapp"))]
    #[case::two_edits("my-ap", Some("myapp"))]
    #[case::three_edits("webapp", None)]
    #[case::the_app_itself("myapp", None)]
    #[case::a_numbered_series("pr-102", None)]
    #[case::too_short_to_tell("api", None)]
    fn a_new_app_is_near_a_known_one_within_two_edits(#[case] typed: &str, #[case] near: Option<&str>) {
        assert_eq!(near_app(typed, ["myapp", "pr-101", "apx"]), near);
    }

    #[test]
    fn app_names() {
        for ok in ["a", "myapp", "my-app-2", "0app", &"a".repeat(63)] {
            assert!(check_app(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-app", "My", "app_1", "app.x", "a b", "ä", &"a".repeat(64), "x;drop"] {
            assert!(check_app(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_are_upper_cased() {
        assert_eq!(normalize_prefix("primary").unwrap(), "PRIMARY");
        assert_eq!(normalize_prefix("cache_db").unwrap(), "CACHE_DB");
        for bad in ["", "a-b", "1st", "_x", "a b", "x'"] {
            assert!(normalize_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn var_keys() {
        assert!(check_var_key("DATABASE_URL").is_ok());
        for bad in ["", "lower", "1A", "_A", "A-B"] {
            assert!(check_var_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn closest_names_catch_typos_and_case_only() {
        let names = ["myapp", "web-key", "db", "brave-river-4f2a1c"];
        assert_eq!(closest("MyApp", names), Some("myapp"));
        assert_eq!(closest("myap", names), Some("myapp"));
        assert_eq!(closest("web-kye", names), Some("web-key"));
        assert_eq!(closest("brave-river-4f2a1d", names), Some("brave-river-4f2a1c"));
        for far in ["nosuch", "zz", "", &"x".repeat(1000)] {
            assert_eq!(closest(far, names), None, "{far}");
        }
        assert_eq!(did_you_mean("dbb", names), " (did you mean db?)");
        assert_eq!(did_you_mean("nosuch", names), "");
    }

    #[test]
    fn generated_names_are_valid_app_style_names() {
        for _ in 0..200 {
            let name = generate_addon_name();
            assert!(check_addon_name(&name).is_ok(), "{name}");
            assert_eq!(name.rsplit('-').next().unwrap().len(), 6);
        }
        let id = generate_addon_id();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
