//! What the providers that talk to a server (postgres, mysql, redis, rabbitmq) share: their
//! `[providers.NAME]` table (an admin URL, an optional `public_host` and `connect_timeout`),
//! the host and port written into the apps' URLs, the one deadline a login keeps, and the
//! one-line wording of every failure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::{Configured, Environment, Provider, ProviderConfig, ProviderError, Sort, DEFAULT_SERVER};
use crate::addon::Params;
use crate::config::Section;

/// What a server provider's `[providers.NAME]` table takes, and how its URLs look.
#[derive(Debug)]
pub struct ServerSpec {
    pub name: &'static str,
    /// The schemes its admin URL may start with.
    pub schemes: &'static [&'static str],
    /// The schemes the URL handed to apps may take (`--param scheme`, for a client that
    /// reads the driver from it, as SQLAlchemy's `postgresql+psycopg`); the first is the
    /// default.
    pub app_schemes: &'static [&'static str],
    /// The port when the admin URL names none.
    pub default_port: u16,
    /// The section to add to the config file, with an example admin URL in `url = "..."`.
    pub example: &'static str,
}

/// The param that picks the scheme of the URL handed to apps.
pub const SCHEME: &str = "scheme";

/// Checks a server provider's params: a `scheme` must be one it hands out. What
/// `check_params` of its registry entry is.
pub fn check_scheme(spec: &ServerSpec, params: &Params) -> Result<(), String> {
    match params.get(SCHEME) {
        Some(scheme) if !spec.app_schemes.contains(&scheme.as_str()) => Err(format!(
            "param scheme {} is not a scheme the {} provider hands out; give one of: {}",
            crate::names::shown(scheme),
            spec.name,
            spec.app_schemes.join(", ")
        )),
        _ => Ok(()),
    }
}

impl ServerSpec {
    /// The example admin URL, for "write e.g." in messages.
    fn example_url(&self) -> &'static str {
        self.example.split('"').nth(1).unwrap_or(self.example)
    }
}

/// The admin connection to one database server, checked when the config file loads.
#[derive(Clone)]
pub struct ServerSettings {
    pub spec: &'static ServerSpec,
    pub url: Url,
    /// The host written into the URLs handed to apps; the admin URL's host when unset.
    pub public_host: Option<String>,
    /// `connect_timeout` when the table sets it: how long a login may take in all.
    pub connect_timeout: Option<Duration>,
    /// The Unix socket the admin logs in through (a server found on this machine by
    /// its socket); the apps still connect over TCP to the URL's host.
    pub socket: Option<PathBuf>,
    /// How the server was found, when no `[providers.NAME]` section names it.
    pub found: Option<String>,
}

/// How long a login may take, from the first connect to the server's answer to it, when
/// `[providers.NAME] connect_timeout` does not say.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Shows the admin URL with its password masked, so a logged `Settings` holds no secret.
impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (url, public_host) = (self.display_url(), &self.public_host);
        let connect_timeout = &self.connect_timeout;
        f.debug_struct("ServerSettings")
            .field("url", &url)
            .field("public_host", public_host)
            .field("connect_timeout", connect_timeout)
            .field("socket", &self.socket)
            .field("found", &self.found)
            .finish()
    }
}

/// A server provider's settings, and how the provider is made from them.
struct ServerConfig<P> {
    server: ServerSettings,
    /// Its other servers (`[providers.NAME.servers.OTHER]`), by name.
    others: BTreeMap<String, ServerSettings>,
    make: fn(ServerSettings) -> P,
}

impl<P> std::fmt::Debug for ServerConfig<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.server.fmt(f)
    }
}

impl<P: Provider + 'static> ProviderConfig for ServerConfig<P> {
    fn build(&self, _env: &Environment) -> Box<dyn Provider> {
        Box::new((self.make)(self.server.clone()))
    }

    fn found(&self) -> Option<&str> {
        self.server.found.as_deref()
    }

    fn section(&self) -> Option<String> {
        Some(self.server.section(true))
    }

    fn servers(&self) -> Vec<String> {
        self.others.keys().cloned().collect()
    }

    fn build_on(&self, server: &str, _env: &Environment) -> Option<Box<dyn Provider>> {
        let settings = self.others.get(server)?;
        Some(Box::new((self.make)(settings.clone())))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerDoc {
    url: Spanned<String>,
    socket: Option<Spanned<String>>,
    public_host: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    /// `[providers.NAME.servers.OTHER]`: the provider's other servers, by name.
    servers: Option<BTreeMap<Spanned<String>, EntryDoc>>,
}

/// One server's keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryDoc {
    url: Spanned<String>,
    socket: Option<Spanned<String>>,
    public_host: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
}

impl ServerDoc {
    /// Its default server's keys.
    fn split(self) -> (EntryDoc, Option<BTreeMap<Spanned<String>, EntryDoc>>) {
        let ServerDoc { url, socket, public_host, connect_timeout, servers } = self;
        (EntryDoc { url, socket, public_host, connect_timeout }, servers)
    }
}

impl ServerSettings {
    /// Reads a server provider's own table: its default server, and its other servers
    /// by name (`[providers.NAME.servers.OTHER]`); with no table, the server found on
    /// this machine, else `None` (the provider is then not configured). Each refusal
    /// names the file, line and key.
    pub fn read(
        section: Option<&Section<'_>>,
        spec: &'static ServerSpec,
    ) -> anyhow::Result<Option<(ServerSettings, BTreeMap<String, ServerSettings>)>> {
        let Some(section) = section else { return Ok(Self::discovered(spec).map(|found| (found, BTreeMap::new()))) };
        let (entry, servers) = section.read::<ServerDoc>()?.split();
        let default = Self::entry(section, spec, "", entry)?;
        let mut others = BTreeMap::new();
        for (name, entry) in servers.unwrap_or_default() {
            let ok = !name.get_ref().is_empty()
                && name.get_ref().len() <= 40
                && name
                    .get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            if !ok || name.get_ref() == DEFAULT_SERVER {
                let why = "a server's name is 1 to 40 of a-z, 0-9, - and _, and not \"default\"";
                return Err(
                    section.invalid(name.span(), &format!("servers.{}: {why}", crate::names::shown(name.get_ref())))
                );
            }
            let key = format!("servers.{}.", name.get_ref());
            others.insert(name.into_inner(), Self::entry(section, spec, &key, entry)?);
        }
        Ok(Some((default, others)))
    }

    /// The settings from the keys every server provider's table has, each checked: a
    /// provider whose table takes more keys (rabbitmq's `amqp_url`) reads it itself and
    /// hands these over. It has one server, the table's own.
    pub fn checked(
        section: &Section<'_>,
        spec: &'static ServerSpec,
        url: Spanned<String>,
        public_host: Option<Spanned<String>>,
        connect_timeout: Option<Spanned<String>>,
    ) -> anyhow::Result<ServerSettings> {
        Self::entry(section, spec, "", EntryDoc { url, socket: None, public_host, connect_timeout })
    }

    /// One server of the table (`key` is where its keys are: "" or "servers.NAME.").
    fn entry(
        section: &Section<'_>,
        spec: &'static ServerSpec,
        key: &str,
        doc: EntryDoc,
    ) -> anyhow::Result<ServerSettings> {
        let span = doc.url.span();
        let url = Url::parse(doc.url.get_ref()).map_err(|err| {
            section.invalid(span.clone(), &format!("{key}url is not a URL ({err}); write e.g. {}", spec.example_url()))
        })?;
        if !spec.schemes.contains(&url.scheme()) {
            let (wanted, got) = (spec.schemes[0], url.scheme());
            return Err(section.invalid(span, &format!("{key}url must start with {wanted}://, not {got}://")));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(section.invalid(span, &format!("{key}url has no host; write e.g. {}", spec.example_url())));
        }
        // Checked with the code that writes it into the apps' URLs, so a host that code
        // would refuse never reaches a tick.
        let public_host = match doc.public_host {
            Some(host) => match check_public_host(spec.schemes[0], host.get_ref()) {
                Ok(()) => Some(host.into_inner()),
                Err(why) => return Err(section.invalid(host.span(), &format!("{key}public_host: {why}"))),
            },
            None => None,
        };
        let socket = match doc.socket {
            Some(path) if spec.name == "redis" => {
                let why = format!("{key}socket is not taken by redis; its url says where the server is");
                return Err(section.invalid(path.span(), &why));
            }
            Some(path) if !path.get_ref().starts_with('/') => {
                let why = format!("{key}socket must be an absolute path, e.g. /run/mysqld/mysqld.sock");
                return Err(section.invalid(path.span(), &why));
            }
            path => path.map(|path| PathBuf::from(path.into_inner())),
        };
        let connect_timeout = match doc.connect_timeout {
            Some(text) => match crate::expiry::parse_duration(text.get_ref()) {
                Ok(timeout) => Some(timeout),
                Err(why) => return Err(section.invalid(text.span(), &format!("{key}connect_timeout: {why}"))),
            },
            None => None,
        };
        Ok(ServerSettings { spec, url, public_host, connect_timeout, socket, found: None })
    }

    /// The server this machine's own client for it would reach, when it finds one.
    fn discovered(spec: &'static ServerSpec) -> Option<ServerSettings> {
        let found = super::discover::find(spec.name)?;
        let url = Url::parse(&found.url).ok().filter(|url| spec.schemes.contains(&url.scheme()))?;
        let (socket, found) = (found.socket, Some(found.how));
        Some(ServerSettings { spec, url, public_host: None, connect_timeout: None, socket, found })
    }

    /// The `[providers.NAME]` section that names this server, as lines to paste into
    /// the config file; its password masked unless `with_password` (what `providers
    /// add` writes).
    pub fn section(&self, with_password: bool) -> String {
        let url = if with_password { self.url.to_string() } else { self.display_url() };
        let mut lines = format!("[providers.{}]\nurl = {}\n", self.spec.name, toml_string(&url));
        if let Some(socket) = &self.socket {
            lines.push_str(&format!("socket = {}\n", toml_string(&socket.display().to_string())));
        }
        if let Some(host) = &self.public_host {
            lines.push_str(&format!("public_host = {}\n", toml_string(host)));
        }
        lines
    }

    /// [`read`](Self::read), kept with the constructor `make` that builds the provider
    /// from the settings: the whole `configure` of a server provider's registry entry.
    pub fn configure<P: Provider + 'static>(
        section: Option<&Section<'_>>,
        spec: &'static ServerSpec,
        make: fn(ServerSettings) -> P,
    ) -> Configured {
        let read = Self::read(section, spec)?;
        Ok(read.map(|(server, others)| Arc::new(ServerConfig { server, others, make }) as Arc<dyn ProviderConfig>))
    }

    /// How long a login may take in all: connecting (to every address the host has),
    /// TLS, the login and the server's answer to it.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(CONNECT_TIMEOUT)
    }

    /// Runs `login` (connect, log in, read the first answer) and waits for it at most
    /// `timeout`; past that, a transient failure that names the time waited. The drivers'
    /// own timeouts bound each connect or read, not the whole: a host with several
    /// addresses, or a pipeline of setup commands, waits that long several times over,
    /// and a server that accepts connections but never answers would hang the tick. A
    /// login still running when the time is up is left to end on its own thread (when
    /// the driver's read times out, the server answers, or the process exits).
    pub fn within<T: Send + 'static>(
        &self,
        timeout: Duration,
        doing: &str,
        login: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ProviderError> {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            // Nobody is listening any more when the login took too long: the connection just closes.
            let _ = sender.send(login());
        });
        receiver.recv_timeout(timeout).map_err(|_| {
            let what = format!("no answer within {}", humantime::format_duration(timeout));
            self.error(Sort::Transient, doing, &what, "is the server up and not overloaded?")
        })
    }

    /// The admin URL with its password replaced, safe to show.
    pub fn display_url(&self) -> String {
        crate::masking::mask_url_password(self.url.as_str())
    }

    /// `providers.NAME.KEY`: where in the config file a fix goes.
    pub fn key(&self, key: &str) -> String {
        format!("providers.{}.{key}", self.spec.name)
    }

    /// The admin URL's host, without the brackets of an IPv6 address: where to connect.
    pub fn host(&self) -> Result<String, ProviderError> {
        match self.url.host_str() {
            Some(host) if !host.is_empty() => Ok(host.trim_start_matches('[').trim_end_matches(']').to_string()),
            _ => Err(self.error(
                Sort::Permanent,
                "",
                "the admin URL names no host",
                &format!("fix {} in the config file", self.key("url")),
            )),
        }
    }

    /// The admin URL's port, or the server's usual one.
    pub fn port(&self) -> u16 {
        self.url.port().unwrap_or(self.spec.default_port)
    }

    /// `host:port` of the admin URL, for messages.
    pub fn place(&self) -> String {
        format!("{}:{}", self.url.host_str().unwrap_or_default(), self.port())
    }

    /// The host apps connect to: `public_host`, or else the admin URL's host (an IPv6
    /// address in brackets or not; [`app_url`](Self::app_url) takes both).
    pub fn public_host(&self) -> Result<&str, ProviderError> {
        let host = self.public_host.as_deref().or(self.url.host_str()).filter(|host| !host.is_empty());
        host.ok_or_else(|| {
            let fix = format!("set {} in the config file", self.key("public_host"));
            self.error(Sort::Permanent, "", "the admin URL names no host", &fix)
        })
    }

    /// The URL handed to an app: `scheme://user:password@public host:port/path`, the
    /// scheme being the addon's `scheme` param, else the first the spec hands out. Every
    /// login of the addon (rotated, attached) is handed the same scheme.
    pub fn app_url(&self, params: &Params, user: &str, password: &str, path: &str) -> Result<String, ProviderError> {
        let scheme = params.get(SCHEME).map_or(self.spec.app_schemes[0], String::as_str);
        app_url(scheme, user, password, self.public_host()?, self.port(), path)
            .map_err(|why| self.error(Sort::Permanent, "", &why, ""))
    }

    /// Words a failure as one line, `<admin URL, masked>: <doing>: <what>; <fix>` (an empty
    /// part is left out), sorted as the provider judged it. URLs in `what` and `fix` have
    /// their passwords masked, and line breaks (a server's message may hold some) become spaces.
    pub fn error(&self, sort: Sort, doing: &str, what: &str, fix: &str) -> ProviderError {
        let shown = |part: &str| crate::masking::mask_urls_in(&part.replace(['\r', '\n'], " "));
        let mut line = self.display_url();
        for part in [doing, what].into_iter().filter(|part| !part.is_empty()) {
            line = format!("{line}: {}", shown(part));
        }
        if !fix.is_empty() {
            line = format!("{line}; {}", shown(fix));
        }
        sort.error(line)
    }
}

/// `text` as a TOML basic string.
pub fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// Builds a URL handed to an app: `scheme://user:password@host:port/path`, with
/// user and password percent-encoded. A host the URL parser refuses (or would change)
/// is refused: it came from `public_host` or the admin URL, and retrying will not fix it.
fn app_url(scheme: &str, user: &str, password: &str, host: &str, port: u16, path: &str) -> Result<String, String> {
    let refused = |why: String| format!("can't build the {scheme}:// URL for the app: {why}");
    let mut url = url_with_host(scheme, host).map_err(refused)?;
    let set =
        url.set_port(Some(port)).and_then(|()| url.set_username(user)).and_then(|()| url.set_password(Some(password)));
    set.map_err(|()| {
        refused(format!("a {scheme}:// URL with host {} takes no port or credentials", crate::names::shown(host)))
    })?;
    url.set_path(path);
    Ok(url.to_string())
}

/// Checks a `public_host` the way [`app_url`] will use it, so a host it would refuse is
/// refused when the config file loads instead of on every tick.
fn check_public_host(scheme: &str, host: &str) -> Result<(), String> {
    url_with_host(scheme, host).map(drop)
}

/// `scheme://host`, where host is a name or an IPv4 or IPv6 address (bare or in brackets)
/// that the URL parser takes as it is: one it refuses or would percent-encode is an error.
fn url_with_host(scheme: &str, host: &str) -> Result<Url, String> {
    let shown = crate::names::shown(host);
    let bad = || format!("{shown} is not a host name or IP address; write e.g. db.example.internal or ::1");
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ipv6 = bare.parse::<std::net::Ipv6Addr>().ok();
    let host = match ipv6 {
        Some(ip) => format!("[{ip}]"),
        None if host.is_empty() || host.contains(['[', ']']) => return Err(bad()),
        None => host.to_string(),
    };
    let mut url =
        Url::parse(&format!("{scheme}://placeholder")).map_err(|_| format!("{scheme} is not a URL scheme"))?;
    // Host first: a URL without one takes no port or credentials.
    url.set_host(Some(&host)).map_err(|_| bad())?;
    if ipv6.is_none() && url.host_str() != Some(host.as_str()) {
        return Err(bad());
    }
    Ok(url)
}

/// Has the tool killed when the worker that started it dies: a dump must not go on
/// writing a file nobody will record, nor a restore commit what nobody checked.
pub fn dies_with_worker(command: &mut std::process::Command) -> &mut std::process::Command {
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of ours.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The worker may have died before the signal was asked for.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("the worker is gone"));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: ServerSpec = ServerSpec {
        name: "pg",
        schemes: &["postgres"],
        app_schemes: &["postgresql", "postgresql+psycopg"],
        default_port: 5432,
        example: "[providers.pg]\nurl = \"postgres://postgres:PASSWORD@127.0.0.1:5432/postgres\"",
    };

    fn server(url: &str, public_host: Option<&str>) -> ServerSettings {
        let (url, public_host) = (Url::parse(url).unwrap(), public_host.map(str::to_string));
        ServerSettings { spec: &SPEC, url, public_host, connect_timeout: None, socket: None, found: None }
    }

    #[test]
    fn a_scheme_param_is_one_the_provider_hands_out() {
        let params = |scheme: &str| Params::from([("scheme".to_string(), scheme.to_string())]);
        assert_eq!(check_scheme(&SPEC, &Params::new()), Ok(()));
        assert_eq!(check_scheme(&SPEC, &params("postgresql+psycopg")), Ok(()));
        let refused = check_scheme(&SPEC, &params("mysql")).unwrap_err();
        assert_eq!(refused, "param scheme \"mysql\" is not a scheme the pg provider hands out; give one of: postgresql, postgresql+psycopg");
    }

    #[test]
    fn app_urls_encode_credentials() {
        assert_eq!(
            app_url("postgres", "u", "p@ss:w/rd", "db.example", 5432, "/d").unwrap(),
            "postgres://u:p%40ss%3Aw%2Frd@db.example:5432/d"
        );
        assert_eq!(app_url("redis", "u", "p", "::1", 6379, "/0").unwrap(), "redis://u:p@[::1]:6379/0");
        assert_eq!(app_url("mysql", "u", "p", "[0:0::1]", 3306, "/d").unwrap(), "mysql://u:p@[::1]:3306/d");
    }

    #[test]
    fn hosts_the_url_parser_refuses_are_refused() {
        for host in
            ["db#x", "db?x=1", "a|b", "db<x>", "a\nb", "a\0b", "", "a b", "a/b", "u@h", "h:1", "[h]", "d\u{e9}", "[::1"]
        {
            for scheme in ["postgres", "mysql", "redis"] {
                assert!(check_public_host(scheme, host).is_err(), "{scheme} {host:?}");
                assert!(app_url(scheme, "u", "p", host, 1, "/").is_err(), "{host:?}");
            }
        }
        for host in ["db.example.internal", "10.0.0.1", "::1", "[fe80::1]", "db-1_a"] {
            assert_eq!(check_public_host("postgres", host), Ok(()), "{host:?}");
        }
    }

    #[test]
    fn the_public_host_is_public_host_or_the_admin_host_in_brackets() {
        assert_eq!(server("postgres://a:pw@[::1]:7/d", None).public_host(), Ok("[::1]"));
        assert_eq!(server("postgres://a:pw@[::1]:7/d", None).host(), Ok("::1".to_string()));
        assert_eq!(server("postgres://a:pw@h/d", Some("db.example")).public_host(), Ok("db.example"));
        let url = server("postgres://a:pw@[::1]/d", None).app_url(&Params::new(), "u", "p", "/d");
        assert_eq!(url, Ok("postgresql://u:p@[::1]:5432/d".to_string()));
        let params = Params::from([("scheme".to_string(), "postgresql+psycopg".to_string())]);
        let url = server("postgres://a:pw@h/d", None).app_url(&params, "u", "p", "/d");
        assert_eq!(url, Ok("postgresql+psycopg://u:p@h:5432/d".to_string()));
        let refused = server("postgres://a:pw@h/d", Some("a b")).app_url(&Params::new(), "u", "p", "/d").unwrap_err();
        assert!(
            matches!(&refused, ProviderError::Permanent(line) if line.starts_with("postgres://a:****@h/d: can't build"))
        );
    }

    #[test]
    fn errors_are_one_line_with_every_password_masked() {
        let server = server("postgres://a:hunter2@h:1/d", None);
        let err = server.error(Sort::Transient, "connecting", "refused\nby postgres://u:hunter3@x", "is it up?");
        let want = "postgres://a:****@h:1/d: connecting: refused by postgres://u:****@x; is it up?";
        assert_eq!(err, ProviderError::Transient(want.into()));
        let err = server.error(Sort::Permanent, "", "no host", "");
        assert_eq!(err, ProviderError::Permanent("postgres://a:****@h:1/d: no host".into()));
        assert!(!format!("{server:?}").contains("hunter2"));
    }
}
