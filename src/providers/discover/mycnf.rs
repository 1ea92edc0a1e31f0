//! The mariadb/mysql client's defaults: `MYSQL_HOST`, `MYSQL_TCP_PORT` and
//! `MYSQL_UNIX_PORT`, overridden by the `[client]`, `[client-server]`, `[client-mariadb]`
//! and `[mysql]` groups of the option files (/etc/my.cnf, /etc/mysql/my.cnf with their
//! `!include`/`!includedir`, ~/.my.cnf), then the default socket and the OS user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{is_socket, userinfo, Env, Found};

/// Where the Debian client looks for the server's socket when nothing names one.
const SOCKET: &str = "/run/mysqld/mysqld.sock";
/// The groups the `mariadb` client reads, in its order.
const GROUPS: &[&str] = &["client", "client-server", "client-mariadb", "mysql", "mariadb-client"];

/// The server `mariadb` would reach with no arguments, if it finds one.
pub(super) fn find(env: &Env) -> Option<Found> {
    let mut keys = BTreeMap::new();
    let mut from = Vec::new();
    for (var, key) in [("MYSQL_HOST", "host"), ("MYSQL_TCP_PORT", "port"), ("MYSQL_UNIX_PORT", "socket")] {
        if let Some(value) = env.var(var) {
            keys.insert(key.to_string(), value.to_string());
            from.push(var.to_string());
        }
    }
    let files = [Some(PathBuf::from("/etc/my.cnf")), Some(PathBuf::from("/etc/mysql/my.cnf")), env.in_home(".my.cnf")];
    for file in files.into_iter().flatten() {
        let mut read = Vec::new();
        options_in(&file, &mut keys, &mut read, 0);
        if read.iter().any(|changed| *changed) {
            from.push(file.display().to_string());
        }
    }
    let host = keys.get("host").cloned().unwrap_or_else(|| "localhost".into());
    let port: u16 = keys.get("port").map_or(Some(3306), |port| port.parse().ok())?;
    let user = keys.get("user").cloned().unwrap_or_else(|| env.user.clone());
    let password = keys.get("password").cloned();
    // "localhost" means the socket to the client, as it does here.
    let socket = (host == "localhost").then(|| PathBuf::from(keys.get("socket").map_or(SOCKET, String::as_str)));
    if let Some(socket) = &socket {
        if !is_socket(socket) {
            return None;
        }
    }
    if from.is_empty() {
        from.push("the client's defaults".into());
    }
    let place = match &socket {
        Some(socket) => format!("socket {}", socket.display()),
        None => format!("{host}:{port}"),
    };
    // Apps connect over TCP: the client takes "localhost" to the socket, where the
    // server sees another user than the one it made for the app's host.
    let url_host = match host.as_str() {
        "localhost" => "127.0.0.1".to_string(),
        host if host.contains(':') => format!("[{host}]"),
        host => host.to_string(),
    };
    let url = format!("mysql://{}{url_host}:{port}", userinfo(&user, password.as_deref()));
    let how = format!("{place} as user {user}, from {}", from.join(" and "));
    Some(Found { url, socket, how })
}

/// Reads the client's groups of option file `file` into `keys`; `changed` gets whether
/// any key came from each file read. Includes are followed a few levels deep.
fn options_in(file: &Path, keys: &mut BTreeMap<String, String>, changed: &mut Vec<bool>, depth: usize) {
    let Ok(text) = std::fs::read_to_string(file) else { return };
    let mut any = false;
    let mut wanted = false;
    for line in text.lines().map(str::trim) {
        if let Some(path) = line.strip_prefix("!includedir") {
            if depth < 4 {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(path.trim())
                    .map(|dir| dir.flatten().map(|entry| entry.path()).collect())
                    .unwrap_or_default();
                entries.retain(|path| path.extension().is_some_and(|ext| ext == "cnf"));
                entries.sort();
                for entry in entries {
                    options_in(&entry, keys, changed, depth + 1);
                }
            }
        } else if let Some(path) = line.strip_prefix("!include") {
            if depth < 4 {
                options_in(Path::new(path.trim()), keys, changed, depth + 1);
            }
        } else if line.is_empty() || line.starts_with(['#', ';']) {
        } else if let Some(group) = line.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
            wanted = GROUPS.contains(&group.0.trim());
        } else if wanted {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            let key = key.trim().replace('_', "-");
            if ["host", "port", "socket", "user", "password"].contains(&key.as_str()) {
                keys.insert(key, unquoted(value.trim()));
                any = true;
            }
        }
    }
    changed.push(any);
}

/// An option's value with the quotes around it taken off.
fn unquoted(value: &str) -> String {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|rest| rest.strip_suffix(quote)) {
            return inner.to_string();
        }
    }
    value.split(" #").next().unwrap_or(value).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_groups_are_read_and_includes_followed() {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("conf.d");
        std::fs::create_dir(&extra).unwrap();
        std::fs::write(extra.join("50-client.cnf"), "[client]\nuser = \"app\"\npassword=s3cret\n").unwrap();
        std::fs::write(extra.join("ignored.txt"), "[client]\nuser = nobody\n").unwrap();
        let main = dir.path().join("my.cnf");
        let text = format!(
            "[mysqld]\nport = 9999\n[client-server]\nport=3307\nhost = db.local\n!includedir {}\n",
            extra.display()
        );
        std::fs::write(&main, text).unwrap();
        let (mut keys, mut changed) = (BTreeMap::new(), Vec::new());
        options_in(&main, &mut keys, &mut changed, 0);
        let want: BTreeMap<String, String> =
            [("host", "db.local"), ("port", "3307"), ("user", "app"), ("password", "s3cret")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(keys, want);
    }
}
