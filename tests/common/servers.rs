//! The real servers behind the server providers, as the tests see them: whether a test
//! may use one, how to connect with the real clients, and what exists for an addon id
//! (on a server, or as the sqlite provider's files).

use std::path::Path;
use std::time::Duration;

use futures_lite::future::block_on;

/// The variable that names the test server of a server provider.
pub fn variable(provider: &str) -> String {
    format!("ADDONS_TEST_{}_URL", provider.to_uppercase())
}

/// The admin URL of the test server for `provider`, or `None` when there is none to
/// test against and servers are not required; then it prints
/// `NOTICE: skipping <skipping>: <why>`. With ADDONS_TEST_REQUIRE_SERVERS=1 a missing
/// or silent server fails the test instead.
pub fn server(provider: &str, skipping: &str) -> Option<String> {
    if provider == "mqtt" {
        // A private broker of this test process's own, never one named from outside.
        return super::mosquitto::broker(skipping);
    }
    let var = variable(provider);
    let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    let problem = match std::env::var(&var) {
        Ok(url) if !url.is_empty() => match reachable(provider, &url) {
            Ok(()) => return Some(url),
            Err(err) => format!("the server in {var} does not answer: {err}"),
        },
        _ => format!("{var} is not set"),
    };
    assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but {problem}");
    // Straight to the process's stderr: the test harness captures `eprintln!` of a
    // passing test, and this notice is meant to be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "NOTICE: skipping {skipping}: {problem}");
    None
}

fn reachable(provider: &str, url: &str) -> Result<(), String> {
    match provider {
        "postgres" => connect_postgres(url).map(drop).map_err(|err| err.to_string()),
        "mysql" => connect_mysql(url).map(drop).map_err(|err| err.to_string()),
        "redis" => connect_redis(url).map(drop).map_err(|err| err.to_string()),
        "rabbitmq" => rabbitmq_api(url, "GET", "/api/overview").map(drop),
        other => panic!("{other} has no server"),
    }
}

/// The config file that points `provider` at the server `url`.
pub fn config(provider: &str, url: &str) -> String {
    format!("[providers.{provider}]\nurl = {url:?}\n")
}

/// A postgres connection, as an admin or with the URL an addon handed out.
pub fn connect_postgres(url: &str) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(url, postgres::NoTls)
}

/// A mysql connection (a `mariadb://` URL too).
pub fn connect_mysql(url: &str) -> Result<mysql::Conn, mysql::Error> {
    mysql::Conn::new(mysql::Opts::from_url(&url.replacen("mariadb://", "mysql://", 1))?)
}

/// A redis connection that gives up after 5 s.
pub fn connect_redis(url: &str) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(5))
}

/// An AMQP connection, as an app opens it with the `RABBITMQ_URL` an addon handed out.
pub fn connect_rabbitmq(url: &str) -> lapin::Result<lapin::Connection> {
    block_on(lapin::Connection::connect(url, lapin::ConnectionProperties::default()))
}

/// Publishes `body` to `exchange` with `routing_key`, as an app does: without publisher
/// confirms.
pub async fn publish(channel: &lapin::Channel, exchange: &str, routing_key: &str, body: &[u8]) -> lapin::Result<()> {
    let options = lapin::options::BasicPublishOptions::default();
    let properties = lapin::BasicProperties::default();
    channel.basic_publish(exchange.into(), routing_key.into(), options, body, properties).await?.await.map(drop)
}

/// Uses a `RABBITMQ_URL` as an app would: declares a queue, publishes a message to it and
/// gets it back.
pub fn rabbitmq_round_trip(url: &str) -> lapin::Result<()> {
    use lapin::options::{BasicGetOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    let connection = connect_rabbitmq(url)?;
    block_on(async {
        let channel = connection.create_channel().await?;
        channel.queue_declare("addons-probe".into(), QueueDeclareOptions::default(), FieldTable::default()).await?;
        publish(&channel, "", "addons-probe", b"hello").await?;
        let got = loop {
            if let Some(got) = channel.basic_get("addons-probe".into(), BasicGetOptions { no_ack: true }).await? {
                break got;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(got.delivery.data, b"hello");
        connection.close(200, "OK".into()).await
    })
}

/// A request to the RabbitMQ management API at `admin` (`http://user:password@host:port`)
/// as the user the URL names; the JSON answer, `Value::Null` for a 404, or the status and
/// body of any other failure.
pub fn rabbitmq_api(admin: &str, method: &str, path: &str) -> Result<serde_json::Value, String> {
    rabbitmq_send(admin, method, path, None)
}

/// [`rabbitmq_api`] with a JSON body.
pub fn rabbitmq_send(
    admin: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let mut url = url::Url::parse(admin).map_err(|err| err.to_string())?;
    let decoded = |text: &str| percent_encoding::percent_decode_str(text).decode_utf8().expect("UTF-8").into_owned();
    let (user, password) = (decoded(url.username()), decoded(url.password().unwrap_or("")));
    url.set_username("").and_then(|()| url.set_password(None)).expect("an http URL");
    let target = format!("{}{path}", url.as_str().trim_end_matches('/'));
    use base64::Engine;
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .proxy(None)
        .build()
        .into();
    let sent = match (method, body) {
        ("PUT", Some(body)) => agent.put(&target).header("Authorization", &auth).send_json(body),
        ("PUT", None) => agent.put(&target).header("Authorization", &auth).send_empty(),
        ("POST", Some(body)) => agent.post(&target).header("Authorization", &auth).send_json(body),
        ("DELETE", _) => agent.delete(&target).header("Authorization", &auth).call(),
        _ => agent.get(&target).header("Authorization", &auth).call(),
    };
    let mut response = sent.map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().map_err(|err| err.to_string())?;
    match status {
        200..=299 => Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)),
        404 => Ok(serde_json::Value::Null),
        _ => Err(format!("{method} {path}: {status} {text}")),
    }
}

/// Drops a login on the server behind addons' back: a postgres role, the mysql user on
/// every host, a redis ACL user.
pub fn drop_login(provider: &str, admin: &str, login: &str) {
    match provider {
        "postgres" => connect_postgres(admin).unwrap().batch_execute(&format!("DROP ROLE \"{login}\"")).unwrap(),
        "mysql" => {
            use mysql::prelude::Queryable;
            let mut conn = connect_mysql(admin).unwrap();
            let hosts: Vec<String> = conn.exec("SELECT host FROM mysql.user WHERE user = ?", (login,)).unwrap();
            for host in hosts {
                conn.query_drop(format!("DROP USER '{login}'@'{host}'")).unwrap();
            }
        }
        "rabbitmq" => drop(rabbitmq_api(admin, "DELETE", &format!("/api/users/{login}")).unwrap()),
        "mqtt" => drop(super::mosquitto::dynsec(admin, &["deleteClient", login]).unwrap()),
        _ => redis::cmd("ACL")
            .arg("DELUSER")
            .arg(login)
            .query::<i64>(&mut connect_redis(admin).unwrap())
            .map(drop)
            .unwrap(),
    }
}

/// What exists on the server at `admin` for addon `id` (empty when nothing does): the
/// postgres roles (the owner and each login, `addons_<id>_<slot>_<generation>`) and
/// database, the mysql users and database, or the redis ACL user and keys, all named
/// after the addon; sorted, as the catalogs return rows in no set order.
pub fn traces(provider: &str, admin: &str, id: &str) -> Vec<String> {
    let mut found = traces_as_found(provider, admin, id);
    found.sort();
    found
}

fn traces_as_found(provider: &str, admin: &str, id: &str) -> Vec<String> {
    let name = format!("addons_{id}");
    match provider {
        "postgres" => connect_postgres(admin)
            .unwrap()
            .query(
                "SELECT 'role ' || rolname FROM pg_roles WHERE rolname = $1 OR rolname LIKE $2 \
                 UNION ALL SELECT 'database ' || datname FROM pg_database WHERE datname = $1",
                &[&name, &format!("addons\\_{id}\\_%")],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect(),
        "mysql" => {
            use mysql::prelude::Queryable;
            let mut conn = connect_mysql(admin).unwrap();
            let mut found: Vec<String> =
                conn.exec("SELECT CONCAT('user ', user, '@', host) FROM mysql.user WHERE user = ?", (&name,)).unwrap();
            let databases: Vec<String> = conn
                .exec(
                    "SELECT CONCAT('database ', schema_name) FROM information_schema.schemata WHERE schema_name = ?",
                    (&name,),
                )
                .unwrap();
            found.extend(databases);
            found
        }
        "redis" => {
            let mut conn = connect_redis(admin).unwrap();
            let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut conn).unwrap();
            let mut found: Vec<String> =
                users.into_iter().filter(|u| *u == name).map(|u| format!("ACL user {u}")).collect();
            let keys: Vec<String> = redis::cmd("KEYS").arg(format!("addons:{id}:*")).query(&mut conn).unwrap();
            found.extend(keys.into_iter().map(|k| format!("key {k}")));
            found
        }
        "rabbitmq" => {
            let mut found = Vec::new();
            if !rabbitmq_api(admin, "GET", &format!("/api/vhosts/{name}")).unwrap().is_null() {
                found.push(format!("vhost {name}"));
            }
            let users = rabbitmq_api(admin, "GET", "/api/users").unwrap();
            let users = users.as_array().unwrap().iter().filter_map(|user| user["name"].as_str());
            let ours = |user: &&str| *user == name || user.starts_with(&format!("{name}_"));
            found.extend(users.filter(ours).map(|user| format!("user {user}")));
            let mark = rabbitmq_api(admin, "GET", &format!("/api/global-parameters/addons-copy-{id}")).unwrap();
            if !mark.is_null() {
                found.push(format!("global parameter addons-copy-{id}"));
            }
            found
        }
        "mqtt" => super::mosquitto::traces(admin, id),
        other => panic!("{other} has no server"),
    }
}

/// Removes, as the admin, whatever carries addon `id` on the server when dropped (its
/// databases, roles or users of every slot and generation, ACL users and keys), so a test
/// that fails halfway leaves the shared server as it found it.
pub struct Sweep {
    provider: &'static str,
    admin: String,
    id: String,
}

impl Sweep {
    pub fn new(provider: &'static str, admin: &str, id: &str) -> Sweep {
        Sweep { provider, admin: admin.to_string(), id: id.to_string() }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        let pattern = format!("addons\\_{}%", self.id);
        match self.provider {
            "postgres" => {
                let Ok(mut admin) = connect_postgres(&self.admin) else { return };
                let names = |admin: &mut postgres::Client, sql: &str| -> Vec<String> {
                    admin
                        .query(sql, &[&pattern])
                        .map(|rows| rows.iter().map(|row| row.get(0)).collect())
                        .unwrap_or_default()
                };
                for database in names(&mut admin, "SELECT datname FROM pg_database WHERE datname LIKE $1") {
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"));
                }
                // The owner last: the other logins are its members.
                for role in
                    names(&mut admin, "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname DESC")
                {
                    let _ = admin.batch_execute(&format!("DROP OWNED BY \"{role}\"; DROP ROLE IF EXISTS \"{role}\""));
                }
            }
            "mysql" => {
                use mysql::prelude::Queryable;
                let Ok(mut admin) = connect_mysql(&self.admin) else { return };
                let users: Vec<(String, String)> =
                    admin.exec("SELECT user, host FROM mysql.user WHERE user LIKE ?", (&pattern,)).unwrap_or_default();
                for (user, host) in users {
                    let _ = admin.query_drop(format!("DROP USER IF EXISTS `{user}`@`{host}`"));
                }
                let databases: Vec<String> = admin
                    .exec("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?", (&pattern,))
                    .unwrap_or_default();
                for database in databases {
                    let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS `{database}`"));
                }
            }
            "rabbitmq" => {
                let name = format!("addons_{}", self.id);
                let _ = rabbitmq_api(&self.admin, "DELETE", &format!("/api/vhosts/{name}"));
                let _ = rabbitmq_api(&self.admin, "DELETE", &format!("/api/global-parameters/addons-copy-{}", self.id));
                let users = rabbitmq_api(&self.admin, "GET", "/api/users").unwrap_or_default();
                for user in users.as_array().into_iter().flatten().filter_map(|user| user["name"].as_str()) {
                    if user == name || user.starts_with(&format!("{name}_")) {
                        let _ = rabbitmq_api(&self.admin, "DELETE", &format!("/api/users/{user}"));
                    }
                }
            }
            "mqtt" => super::mosquitto::sweep(&self.admin, &self.id),
            _ => {
                let Ok(mut admin) = connect_redis(&self.admin) else { return };
                let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut admin).unwrap_or_default();
                for user in users.into_iter().filter(|user| user.starts_with(&format!("addons_{}", self.id))) {
                    let _ = redis::cmd("ACL").arg("DELUSER").arg(user).query::<i64>(&mut admin);
                }
                let keys: Vec<String> =
                    redis::cmd("KEYS").arg(format!("addons:{}:*", self.id)).query(&mut admin).unwrap_or_default();
                if !keys.is_empty() {
                    let _ = redis::cmd("DEL").arg(keys).query::<i64>(&mut admin);
                }
            }
        }
    }
}

/// The files of sqlite addon `id` in `dir` (the database and its journals), empty when
/// there are none.
pub fn sqlite_traces(dir: &Path, id: &str) -> Vec<String> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| dir.join(format!("{id}.db{suffix}")))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect()
}

/// A TCP port in front of the test server of an admin URL: it forwards every connection
/// to the server and counts them, so a test can tell whether a command touched the
/// server at all, whatever other tests do on the same server meanwhile.
pub struct Relay {
    /// The admin URL with the relay's address in place of the server's.
    pub url: String,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Relay {
    /// A relay to the server of `admin` (its listener lives as long as the test process).
    pub fn to(admin: &str) -> Relay {
        let mut url = url::Url::parse(admin).expect("an admin URL");
        let target = format!(
            "{}:{}",
            url.host_str().expect("a host"),
            url.port_or_known_default().unwrap_or(match url.scheme() {
                "mysql" | "mariadb" => 3306,
                "redis" => 6379,
                "http" => 15672,
                "mqtt" => 1883,
                _ => 5432,
            })
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a relay port");
        url.set_host(Some("127.0.0.1")).expect("a host");
        url.set_port(Some(listener.local_addr().expect("the relay's address").port())).expect("a port");
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Ok(server) = std::net::TcpStream::connect(&target) else { continue };
                for (mut from, mut to) in
                    [(client.try_clone().expect("clone"), server.try_clone().expect("clone")), (server, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Relay { url: url.into(), connections }
    }

    /// How many connections were made through the relay so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The directory of this machine's PostgreSQL server programs (`initdb`, `pg_ctl`), for a
/// test that starts a private cluster; `None` (with a NOTICE naming `skipping`) when
/// they are not installed and servers are not required.
pub fn postgres_programs(skipping: &str) -> Option<std::path::PathBuf> {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .find(|bin| bin.join("initdb").is_file());
    if bin.is_none() {
        let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
        assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but initdb is not installed");
        eprintln!("NOTICE: skipping {skipping}: initdb is not installed (/usr/lib/postgresql/*/bin)");
    }
    bin
}
