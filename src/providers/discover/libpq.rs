//! libpq's defaults: a service from `PGSERVICE` (`PGSERVICEFILE` or `~/.pg_service.conf`,
//! then `PGSYSCONFDIR`'s `pg_service.conf`), the `PG*` variables, the password file
//! (`PGPASSFILE` or `~/.pgpass`), then the default socket directory and the OS user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{is_socket, userinfo, Env, Found};

/// Where Debian's libpq looks for a socket when nothing names a host.
const SOCKET_DIR: &str = "/var/run/postgresql";
/// Where Debian's libpq keeps its system-wide service file.
const SYSCONF_DIR: &str = "/etc/postgresql-common";

/// The server `psql` would reach with no arguments, if it finds one.
pub(super) fn find(env: &Env) -> Option<Found> {
    let mut from = Vec::new();
    let service = match env.var("PGSERVICE") {
        Some(name) => {
            let found = service(env, name)?;
            from.push(format!("service {name}"));
            found
        }
        None => BTreeMap::new(),
    };
    // A service's values come first, then the variables, then the defaults.
    let pick = |key: &str, var: &str| -> Option<String> {
        service.get(key).cloned().or_else(|| env.var(var).map(str::to_string))
    };
    let named: Vec<&str> = ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"]
        .into_iter()
        .filter(|var| env.var(var).is_some())
        .collect();
    if !named.is_empty() {
        from.push(named.join(", "));
    }
    let host = pick("host", "PGHOST").unwrap_or_else(|| SOCKET_DIR.to_string());
    // Several hosts: libpq tries them in turn; the first is where the addons go.
    let host = host.split(',').next().unwrap_or_default().trim().to_string();
    let port: u16 = match pick("port", "PGPORT") {
        Some(port) => port.split(',').next()?.trim().parse().ok()?,
        None => 5432,
    };
    let user = pick("user", "PGUSER").unwrap_or_else(|| env.user.clone());
    let database = pick("dbname", "PGDATABASE").unwrap_or_else(|| user.clone());
    let socket = host.starts_with('/').then(|| PathBuf::from(&host));
    if let Some(dir) = &socket {
        if !is_socket(&dir.join(format!(".s.PGSQL.{port}"))) {
            return None;
        }
    }
    let mut password = pick("password", "PGPASSWORD");
    if password.is_none() {
        // libpq matches a socket login against "localhost" in the password file.
        let matched = if socket.is_some() { "localhost" } else { host.as_str() };
        if let Some((file, found)) = passfile(env, matched, port, &database, &user) {
            from.push(format!("the password in {}", file.display()));
            password = Some(found);
        }
    }
    if from.is_empty() {
        from.push("libpq's defaults".into());
    }
    let url_host = match &socket {
        // Apps connect over TCP to the same machine (pg_hba's host lines, with the
        // password the provider sets), which libpq's "localhost" may take to ::1.
        Some(_) => "127.0.0.1".to_string(),
        None if host.contains(':') => format!("[{host}]"),
        None => host.clone(),
    };
    let database_path = percent_encoding::utf8_percent_encode(&database, percent_encoding::NON_ALPHANUMERIC);
    let url = format!("postgres://{}{url_host}:{port}/{database_path}", userinfo(&user, password.as_deref()));
    let place = match &socket {
        Some(dir) => format!("socket {}", dir.display()),
        None => format!("{host}:{port}"),
    };
    let how = format!("{place} as role {user}, from {}", from.join(" and "));
    Some(Found { url, socket, how })
}

/// The keys of service `name`: the user's file first, then the system's.
fn service(env: &Env, name: &str) -> Option<BTreeMap<String, String>> {
    let user_file = env.var("PGSERVICEFILE").map(PathBuf::from).or_else(|| env.in_home(".pg_service.conf"));
    let system_dir = env.var("PGSYSCONFDIR").unwrap_or(SYSCONF_DIR);
    let system_file = Path::new(system_dir).join("pg_service.conf");
    [user_file, Some(system_file)]
        .into_iter()
        .flatten()
        .find_map(|file| service_in(&std::fs::read_to_string(file).ok()?, name))
}

/// Section `[name]` of a service file's text: `key=value` lines, `#` comments.
fn service_in(text: &str, name: &str) -> Option<BTreeMap<String, String>> {
    let mut keys = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            if keys.is_some() {
                break;
            }
            if section.trim() == name {
                keys = Some(BTreeMap::new());
            }
        } else if let (Some(keys), Some((key, value))) = (keys.as_mut(), line.split_once('=')) {
            keys.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    keys
}

/// The password of the first line of the password file that matches, and the file.
fn passfile(env: &Env, host: &str, port: u16, database: &str, user: &str) -> Option<(PathBuf, String)> {
    let file = env.var("PGPASSFILE").map(PathBuf::from).or_else(|| env.in_home(".pgpass"))?;
    let text = std::fs::read_to_string(&file).ok()?;
    let port = port.to_string();
    let wanted = [host, port.as_str(), database, user];
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let fields = passfile_fields(line);
        let [h, p, d, u, password] = <[String; 5]>::try_from(fields).ok()?;
        let matches = [h, p, d, u].iter().zip(wanted).all(|(field, want)| field == "*" || field == want);
        matches.then(|| (file.clone(), password))
    })
}

/// The colon-separated fields of a password file line, `\:` and `\\` read as escapes.
fn passfile_fields(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut chars) = (Vec::new(), String::new(), line.chars());
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::super::tests::env;
    use super::*;

    #[test]
    fn variables_and_the_password_file_make_the_url() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".pgpass"), "# x\nother:*:*:*:no\ndb.local:5433:*:app:s\\:cret\n").unwrap();
        let vars = [("PGHOST", "db.local"), ("PGPORT", "5433"), ("PGUSER", "app")];
        let found = find(&env(&vars, home.path())).unwrap();
        assert_eq!(found.url, "postgres://app:s%3Acret@db.local:5433/app");
        assert_eq!(found.socket, None);
        let pgpass = home.path().join(".pgpass");
        let want =
            format!("db.local:5433 as role app, from PGHOST, PGPORT, PGUSER and the password in {}", pgpass.display());
        assert_eq!(found.how, want);
    }

    #[test]
    fn a_service_comes_before_the_variables() {
        let home = tempfile::tempdir().unwrap();
        let text = "[other]\nhost=x\n[analytics]\n# c\nhost = 10.1.2.3\nport=6000\nuser=etl\ndbname=wh\n";
        std::fs::write(home.path().join(".pg_service.conf"), text).unwrap();
        let found = find(&env(&[("PGSERVICE", "analytics"), ("PGUSER", "me")], home.path())).unwrap();
        assert_eq!(found.url, "postgres://etl@10.1.2.3:6000/wh");
        assert!(found.how.starts_with("10.1.2.3:6000 as role etl, from service analytics"), "{}", found.how);
        assert_eq!(find(&env(&[("PGSERVICE", "missing")], home.path())), None);
    }

    #[test]
    fn a_socket_directory_without_a_server_finds_none() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().display().to_string();
        assert_eq!(find(&env(&[("PGHOST", &dir)], home.path())), None);
    }
}
