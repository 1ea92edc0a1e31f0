//! The providers the suites test: every provider in the registry (`addons::providers::ALL`,
//! the same list the binary under test was built with), none named by hand. What a suite
//! must know of a provider beyond its registry entry is in [`NEEDS`], keyed by registry
//! name; a registry provider without an entry fails every suite that asks, so a new
//! provider can't be skipped unnoticed.

use addons::providers::{ProviderInfo, ALL};

/// What a provider needs before a test can provision with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: it runs without a `[providers.NAME]` table.
    Nothing,
    /// Its registry entry's `example` table, as it stands (no server behind it).
    Example,
    /// A real server: the admin URL in `ADDONS_TEST_<NAME>_URL` (see `servers`).
    Server,
}

/// Each provider's needs, by registry name.
const NEEDS: &[(&str, Needs)] = &[
    ("secret", Needs::Nothing),
    ("sqlite", Needs::Nothing),
    ("postgres", Needs::Server),
    ("mysql", Needs::Server),
    ("redis", Needs::Server),
    ("rabbitmq", Needs::Server),
    // A private Mosquitto that the tests start (tests/common/mosquitto.rs).
    ("mqtt", Needs::Server),
    ("fake", Needs::Example),
];

/// The providers compiled in only for tests (the `fake-provider` feature): what
/// describes a release build (docs, man pages) leaves them out.
pub const TEST_BUILD_ONLY: &[&str] = &["fake"];

/// Every provider in the registry, in its order.
pub fn all() -> Vec<&'static ProviderInfo> {
    for info in ALL {
        needs(info.name);
    }
    ALL.to_vec()
}

/// The providers of a release build: the registry's but for [`TEST_BUILD_ONLY`].
pub fn released() -> Vec<&'static ProviderInfo> {
    all().into_iter().filter(|info| !TEST_BUILD_ONLY.contains(&info.name)).collect()
}

/// Every provider's name, in the registry's order.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|info| info.name).collect()
}

/// What `provider` needs; fails for a provider the table does not know.
pub fn needs(provider: &str) -> Needs {
    match NEEDS.iter().find(|(name, _)| *name == provider) {
        Some((_, needs)) => *needs,
        None => panic!("tests/common/providers.rs says nothing of provider {provider:?}: add it to NEEDS"),
    }
}

/// The providers that talk to a server, in the registry's order.
pub fn on_servers() -> Vec<&'static str> {
    all().iter().map(|info| info.name).filter(|name| needs(name) == Needs::Server).collect()
}

/// The providers that run with no server, in the registry's order.
pub fn serverless() -> Vec<&'static str> {
    all().iter().map(|info| info.name).filter(|name| needs(name) != Needs::Server).collect()
}

/// The config file that lets a serverless provider provision ("" when it needs none).
pub fn serverless_config(provider: &str) -> String {
    match needs(provider) {
        Needs::Nothing => String::new(),
        Needs::Example => {
            let info = addons::providers::info(provider).expect("a registry provider");
            format!("{}\n", info.example.expect("an example table in its registry entry"))
        }
        Needs::Server => panic!("{provider} needs a server"),
    }
}

/// The names, joined as clap and the registry list them: "secret, sqlite, ...".
pub fn listed() -> String {
    names().join(", ")
}

/// The scheme of a server provider's admin URL, as its registry `example` writes it.
pub fn scheme(provider: &str) -> String {
    let url = closed_url(provider, "admin", "pw", "h");
    url.split_once("://").expect("a URL").0.to_string()
}

/// The admin URL of a server provider's registry `example`, pointed at port 1 of `host`
/// (where nothing listens) as `user` with `password`.
pub fn closed_url(provider: &str, user: &str, password: &str, host: &str) -> String {
    let info = addons::providers::info(provider).expect("a registry provider");
    let example = info.example.expect("a server provider's entry has an example");
    let text = example.split('"').nth(1).unwrap_or_else(|| panic!("{provider}'s example has no url: {example}"));
    let mut url = url::Url::parse(text).unwrap_or_else(|err| panic!("{provider}'s example url {text}: {err}"));
    url.set_host(Some(host)).expect("a host");
    url.set_port(Some(1)).expect("a port");
    url.set_username(user).expect("a user");
    url.set_password(Some(password)).expect("a password");
    url.into()
}
