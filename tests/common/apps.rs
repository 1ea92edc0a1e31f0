//! What an app does with the vars of a server addon, as the tests play it: log in with
//! the real clients, make objects and use them (for redis, the same acted out on keys).

use mysql::prelude::Queryable;

use super::servers::{connect_mysql, connect_postgres, connect_rabbitmq, connect_redis, publish};

/// What an app holds: its URL (and key prefix), and what it does with them.
pub struct App {
    pub kind: &'static str,
    pub url: String,
    pub prefix: String,
}

/// A logged-in session of an app.
pub enum Session {
    Postgres(postgres::Client),
    Mysql(mysql::Conn),
    Redis(redis::Connection),
    Rabbitmq(lapin::Connection),
    Mqtt(Box<super::mosquitto::Session>),
}

impl App {
    /// Logs in, or says why it could not.
    pub fn connect(&self) -> Result<Session, String> {
        match self.kind {
            "postgres" => connect_postgres(&self.url).map(Session::Postgres).map_err(|err| err.to_string()),
            "mysql" => connect_mysql(&self.url).map(Session::Mysql).map_err(|err| err.to_string()),
            "rabbitmq" => connect_rabbitmq(&self.url).map(Session::Rabbitmq).map_err(|err| err.to_string()),
            "mqtt" => super::mosquitto::connect(&self.url, None).map(|session| Session::Mqtt(Box::new(session))),
            _ => {
                let mut conn = connect_redis(&self.url).map_err(|err| err.to_string())?;
                redis::cmd("PING").query::<String>(&mut conn).map_err(|err| err.to_string())?;
                Ok(Session::Redis(conn))
            }
        }
    }

    pub fn works(&self) -> bool {
        self.connect().and_then(|mut session| session.run(&self.prefix, "SELECT 1")).is_ok()
    }

    /// Makes object `name` (a table, or a key) holding one row.
    pub fn make(&self, name: &str) {
        let sql = format!("CREATE TABLE {name} (v TEXT); INSERT INTO {name} VALUES ('first')");
        self.connect().unwrap().run(&self.prefix, &sql).unwrap();
    }

    /// Reads, writes and alters object `name`, as its owner may; then, when `drop`, drops it.
    pub fn own(&self, name: &str, drop: bool) -> Result<(), String> {
        let mut session = self.connect()?;
        session.run(&self.prefix, &format!("SELECT v FROM {name}"))?;
        session.run(&self.prefix, &format!("INSERT INTO {name} (v) VALUES ('more')"))?;
        session.run(&self.prefix, &format!("ALTER TABLE {name} ADD COLUMN w{} TEXT", rand_suffix()))?;
        if drop {
            session.run(&self.prefix, &format!("DROP TABLE {name}"))?;
        }
        Ok(())
    }
}

/// A fresh column name part, so `own` may run twice on one table.
pub fn rand_suffix() -> String {
    addons::names::generate_addon_id()
}

impl Session {
    /// Runs SQL (statements separated by "; "); for redis the SQL is acted out on keys under
    /// `prefix`: CREATE+INSERT sets the key, SELECT reads it (it must exist), INSERT
    /// appends, ALTER renames it and back, DROP deletes it. For rabbitmq it is acted out on
    /// a durable queue, on a channel of its own: CREATE declares it and publishes to it,
    /// SELECT declares it passively (it must exist), INSERT publishes, ALTER binds it to an
    /// exchange made for the purpose and deletes that, DROP deletes the queue. For mqtt it
    /// is acted out on a retained message under `prefix`: CREATE publishes it, SELECT
    /// subscribes and must get it, INSERT publishes it anew, ALTER publishes under it,
    /// DROP clears it; SELECT 1 asks whether the broker still holds the session.
    pub fn run(&mut self, prefix: &str, sql: &str) -> Result<(), String> {
        match self {
            Session::Postgres(client) => client.batch_execute(sql).map_err(|err| err.to_string()),
            Session::Mysql(conn) => {
                sql.split("; ").try_for_each(|statement| conn.query_drop(statement).map_err(|err| err.to_string()))
            }
            Session::Rabbitmq(connection) => {
                use lapin::options::{
                    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
                    QueueDeleteOptions,
                };
                use lapin::{types::FieldTable, ExchangeKind};
                let words: Vec<&str> = sql.split(' ').collect();
                let fail = |err: lapin::Error| err.to_string();
                let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
                let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
                futures_lite::future::block_on(async {
                    let channel = connection.create_channel().await?;
                    match words[..] {
                        ["SELECT", "1"] => {}
                        ["CREATE", "TABLE", name, ..] => {
                            channel.queue_declare(name.into(), durable, FieldTable::default()).await?;
                            publish(&channel, "", name, b"first").await?;
                        }
                        ["SELECT", "v", "FROM", name] => {
                            channel.queue_declare(name.into(), passive, FieldTable::default()).await?;
                        }
                        ["INSERT", "INTO", name, ..] => {
                            channel.queue_declare(name.into(), passive, FieldTable::default()).await?;
                            publish(&channel, "", name, b"more").await?;
                        }
                        ["ALTER", "TABLE", name, ..] => {
                            let exchange = format!("{name}_altered");
                            let (kind, options) = (ExchangeKind::Direct, ExchangeDeclareOptions::default());
                            channel
                                .exchange_declare(exchange.as_str().into(), kind, options, FieldTable::default())
                                .await?;
                            let bind = QueueBindOptions::default();
                            let (queue, key) = (name.into(), name.into());
                            channel
                                .queue_bind(queue, exchange.as_str().into(), key, bind, FieldTable::default())
                                .await?;
                            channel.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default()).await?;
                        }
                        ["DROP", "TABLE", name] => {
                            channel.queue_delete(name.into(), QueueDeleteOptions::default()).await?;
                        }
                        _ => panic!("no rabbitmq form for {sql}"),
                    }
                    channel.close(200, "OK".into()).await
                })
                .map_err(fail)
            }
            Session::Mqtt(session) => {
                use std::time::Duration;
                let words: Vec<&str> = sql.split(' ').collect();
                let topic = |name: &str| format!("{prefix}{name}");
                match words[..] {
                    ["SELECT", "1"] => match session.alive(Duration::from_secs(5)) {
                        true => Ok(()),
                        false => Err("the broker ended the session".into()),
                    },
                    ["CREATE", "TABLE", name, ..] => session.publish(&topic(name), b"first", true),
                    ["SELECT", "v", "FROM", name] => {
                        if !session.subscribe(&topic(name))? {
                            return Err(format!("subscribing to {} was refused", topic(name)));
                        }
                        let got = session
                            .messages_until(Duration::from_secs(5), |(t, _, retained)| *t == topic(name) && *retained);
                        session.unsubscribe(&topic(name))?;
                        match got {
                            true => Ok(()),
                            false => Err(format!("no retained message on {}", topic(name))),
                        }
                    }
                    ["INSERT", "INTO", name, ..] => session.publish(&topic(name), b"more", true),
                    ["ALTER", "TABLE", name, ..] => session.publish(&format!("{}/altered", topic(name)), b"", false),
                    ["DROP", "TABLE", name] => session.publish(&topic(name), b"", true),
                    _ => panic!("no mqtt form for {sql}"),
                }
            }
            Session::Redis(conn) => {
                let words: Vec<&str> = sql.split(' ').collect();
                let key = |word: &str| format!("{prefix}{word}");
                let fail = |err: redis::RedisError| err.to_string();
                match words[..] {
                    ["SELECT", "1"] => redis::cmd("PING").query::<String>(conn).map(drop).map_err(fail),
                    ["CREATE", "TABLE", name, ..] => {
                        redis::cmd("SET").arg(key(name)).arg("first").query(conn).map_err(fail)
                    }
                    ["SELECT", "v", "FROM", name] => {
                        match redis::cmd("GET").arg(key(name)).query::<Option<String>>(conn) {
                            Ok(Some(_)) => Ok(()),
                            Ok(None) => Err(format!("no key {name}")),
                            Err(err) => Err(fail(err)),
                        }
                    }
                    ["INSERT", "INTO", name, ..] => {
                        redis::cmd("APPEND").arg(key(name)).arg(",more").query(conn).map_err(fail)
                    }
                    ["ALTER", "TABLE", name, ..] => {
                        let moved = format!("{name}_moved");
                        redis::cmd("RENAME").arg(key(name)).arg(key(&moved)).query::<()>(conn).map_err(fail)?;
                        redis::cmd("RENAME").arg(key(&moved)).arg(key(name)).query(conn).map_err(fail)
                    }
                    ["DROP", "TABLE", name] => redis::cmd("DEL").arg(key(name)).query(conn).map_err(fail),
                    _ => panic!("no redis form for {sql}"),
                }
            }
        }
    }
}

/// The login name in an app's URL.
pub fn login_of(app: &App) -> String {
    let rest = app.url.split_once("://").map_or("", |(_, rest)| rest);
    rest.split_once(':').map_or("", |(user, _)| user).to_string()
}

/// Every login on the server whose name holds addon `id`: roles, users, ACL users.
pub fn logins(kind: &str, admin: &str, id: &str) -> Vec<String> {
    let pattern = format!("%{id}%");
    let mut found: Vec<String> = match kind {
        "postgres" => connect_postgres(admin)
            .unwrap()
            .query("SELECT rolname FROM pg_roles WHERE rolname LIKE $1 AND rolcanlogin", &[&pattern])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect(),
        "mysql" => {
            use mysql::prelude::Queryable;
            connect_mysql(admin).unwrap().exec("SELECT user FROM mysql.user WHERE user LIKE ?", (&pattern,)).unwrap()
        }
        "mqtt" => {
            let clients = super::mosquitto::dynsec(admin, &["listClients"]).unwrap();
            clients.lines().map(str::trim).filter(|client| client.contains(id)).map(str::to_string).collect()
        }
        "rabbitmq" => {
            let users = super::servers::rabbitmq_api(admin, "GET", "/api/users").unwrap();
            let names = users.as_array().unwrap().iter().filter_map(|user| user["name"].as_str());
            names.filter(|user| user.contains(id)).map(str::to_string).collect()
        }
        _ => {
            let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut connect_redis(admin).unwrap()).unwrap();
            users.into_iter().filter(|user| user.contains(id)).collect()
        }
    };
    found.sort();
    found
}
