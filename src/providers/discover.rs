//! Finding a server on this machine the way its own client finds it, for a server
//! provider with no `[providers.NAME]` section: postgres as libpq does, mysql as the
//! mariadb/mysql client does, redis by `REDIS_URL` or its usual address. What is found
//! is an admin URL (and, for a local socket, the socket's path) with a line saying how.
//! The crates that read libpq's files (postgres-service, pg-client-config) hand back a
//! finished connection config without saying where each value came from, which
//! `addons providers` says, and none reads the mariadb client's option files: the small
//! readers are here, each tested against the file formats.

use std::path::{Path, PathBuf};

mod libpq;
mod mycnf;

/// A server found on this machine, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The admin URL (user, password, host, port, database); for a socket login its
    /// host is 127.0.0.1, where the apps' URLs point (over TCP, on this machine).
    pub url: String,
    /// The Unix socket the admin logs in through, when it does.
    pub socket: Option<PathBuf>,
    /// How it was found, for `addons providers` and the note of the first provision:
    /// "socket /var/run/postgresql as role root, from libpq's defaults".
    pub how: String,
}

/// Looks for the named provider's server; `None` for a provider without one, or when
/// its client would find none here.
pub fn find(provider: &str) -> Option<Found> {
    let env = Env::process();
    match provider {
        "postgres" => libpq::find(&env),
        "mysql" => mycnf::find(&env),
        "redis" => redis(&env),
        _ => None,
    }
}

/// What discovery reads of the process: its environment, home and OS user.
pub(crate) struct Env {
    vars: std::collections::BTreeMap<String, String>,
    home: Option<PathBuf>,
    user: String,
}

impl Env {
    fn process() -> Env {
        let vars = std::env::vars().collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Env { vars, home, user: os_user() }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|value| !value.is_empty())
    }

    fn in_home(&self, name: &str) -> Option<PathBuf> {
        self.home.as_ref().map(|home| home.join(name))
    }
}

/// The name of the user this process runs as, which the clients log in as by default.
fn os_user() -> String {
    // SAFETY: getpwuid returns a pointer to static storage or null; it is read at once.
    unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        if entry.is_null() || (*entry).pw_name.is_null() {
            return std::env::var("USER").unwrap_or_else(|_| "root".into());
        }
        std::ffi::CStr::from_ptr((*entry).pw_name).to_string_lossy().into_owned()
    }
}

/// Whether a Unix socket is there to connect to.
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
}

/// `REDIS_URL`, else 127.0.0.1:6379 when something listens there.
fn redis(env: &Env) -> Option<Found> {
    if let Some(url) = env.var("REDIS_URL") {
        let shown = crate::masking::mask_url_password(url);
        return Some(Found { url: url.to_string(), socket: None, how: format!("{shown}, from REDIS_URL") });
    }
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], 6379));
    std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_millis(500)).ok()?;
    Some(Found {
        url: "redis://127.0.0.1:6379".into(),
        socket: None,
        how: "127.0.0.1:6379, the redis client's default".into(),
    })
}

/// `user[:password]@` of a URL, percent-encoded.
fn userinfo(user: &str, password: Option<&str>) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let user = utf8_percent_encode(user, NON_ALPHANUMERIC).to_string();
    match password {
        Some(password) => format!("{user}:{}@", utf8_percent_encode(password, NON_ALPHANUMERIC)),
        None => format!("{user}@"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process environment made of `vars`, with `home` as HOME and root as its user.
    pub(crate) fn env(vars: &[(&str, &str)], home: &Path) -> Env {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env { vars, home: Some(home.to_path_buf()), user: "root".into() }
    }

    #[test]
    fn redis_url_is_taken_as_given() {
        let found = redis(&env(&[("REDIS_URL", "redis://:pw@10.0.0.9:6380")], Path::new("/nonexistent"))).unwrap();
        assert_eq!(found.url, "redis://:pw@10.0.0.9:6380");
        assert_eq!(found.how, "redis://:****@10.0.0.9:6380, from REDIS_URL");
    }
}
