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
