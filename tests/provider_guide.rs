//! The guide to adding a provider kept true: a provider is its file and its registry
//! entry, and the suites that test providers take them from the registry. The fake
//! provider (src/providers/fake.rs, compiled into the binary under test by the
//! `fake-provider` feature, which `--all-features` turns on) is named in no suite, yet the
//! contract, hostile and cli suites run it.

use crate::common;

use common::TestEnv;

/// What the binary under test lists: its registry, in order.
fn listed_by_the_binary() -> Vec<String> {
    let docs = TestEnv::new().json(["providers", "--json"]);
    docs.as_array().expect("an array").iter().map(|doc| doc["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_provider_suites_run_every_provider_the_binary_has() {
    let listed = listed_by_the_binary();
    for (suite, providers) in [
        ("contract", crate::contract::providers()),
        ("hostile", crate::hostile::providers()),
        ("cli", crate::cli::providers()),
    ] {
        assert_eq!(providers, listed, "the {suite} suite's providers are not the binary's");
    }
}

#[cfg(feature = "fake-provider")]
#[test]
fn the_fake_added_through_the_registry_alone_is_run_by_the_contract_hostile_and_cli_suites() {
    assert!(listed_by_the_binary().iter().any(|name| name == "fake"), "the binary does not list the fake");
    for (suite, providers) in [
        ("contract", crate::contract::providers()),
        ("hostile", crate::hostile::providers()),
        ("cli", crate::cli::providers()),
    ] {
        assert!(providers.contains(&"fake"), "the {suite} suite does not run the fake");
    }
    // What each suite does with a provider, done with the fake.
    crate::contract::contract("fake");
    crate::hostile::hostile_names_are_refused_by("fake");
    crate::cli::round_trip("fake");
}

#[cfg(not(feature = "fake-provider"))]
#[test]
fn a_build_without_the_feature_has_no_fake() {
    assert!(!listed_by_the_binary().iter().any(|name| name == "fake"));
    assert!(common::providers::names().iter().all(|name| *name != "fake"));
}

/// Every file docs/guide.md names (`src/…`, `tests/…`, a generator script) is there: the
/// guide's lists of the files a change touches can't point at a file that moved.
#[test]
fn the_guide_names_only_files_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/guide.md")).expect("read docs/guide.md");
    let named: Vec<&str> = guide
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| code.starts_with("src/") || code.starts_with("tests/") || code.ends_with("/generate"))
        .map(|code| code.split_whitespace().next().unwrap_or_default())
        .collect();
    assert!(named.len() > 15, "the guide names too few files: {named:?}");
    let missing: Vec<&&str> =
        named.iter().filter(|path| !path.contains("NAME") && !root.join(path.trim_end_matches('/')).exists()).collect();
    assert!(missing.is_empty(), "docs/guide.md names files that are not there: {missing:?}");
}
