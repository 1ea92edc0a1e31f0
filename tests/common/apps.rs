//! What an app does with the vars of a server addon, as the tests play it: log in with
//! the real clients, make objects and use them (for redis, the same acted out on keys).

use mysql::prelude::Queryable;

use super::servers::{connect_mysql, connect_postgres, connect_rabbitmq, connect_redis};

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
    Rabbitmq(amiquip::Connection),
}

impl App {
    /// Logs in, or says why it could not.
    pub fn connect(&self) -> Result<Session, String> {
        match self.kind {
            "postgres" => connect_postgres(&self.url).map(Session::Postgres).map_err(|err| err.to_string()),
            "mysql" => connect_mysql(&self.url).map(Session::Mysql).map_err(|err| err.to_string()),
            "rabbitmq" => connect_rabbitmq(&self.url).map(Session::Rabbitmq).map_err(|err| err.to_string()),
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
    /// exchange made for the purpose and deletes that, DROP deletes the queue.
    pub fn run(&mut self, prefix: &str, sql: &str) -> Result<(), String> {
        match self {
            Session::Postgres(client) => client.batch_execute(sql).map_err(|err| err.to_string()),
            Session::Mysql(conn) => {
                sql.split("; ").try_for_each(|statement| conn.query_drop(statement).map_err(|err| err.to_string()))
            }
            Session::Rabbitmq(connection) => {
                use amiquip::{ExchangeDeclareOptions, ExchangeType, FieldTable, Publish, QueueDeclareOptions};
                let words: Vec<&str> = sql.split(' ').collect();
                let fail = |err: amiquip::Error| err.to_string();
                let channel = connection.open_channel(None).map_err(fail)?;
                let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
                match words[..] {
                    ["SELECT", "1"] => Ok(()),
                    ["CREATE", "TABLE", name, ..] => {
                        channel.queue_declare(name, durable).map_err(fail)?;
                        channel.basic_publish("", Publish::new(b"first", name)).map_err(fail)
                    }
                    ["SELECT", "v", "FROM", name] => channel.queue_declare_passive(name).map(drop).map_err(fail),
                    ["INSERT", "INTO", name, ..] => {
                        channel.queue_declare_passive(name).map_err(fail)?;
                        channel.basic_publish("", Publish::new(b"more", name)).map_err(fail)
                    }
                    ["ALTER", "TABLE", name, ..] => {
                        let exchange = format!("{name}_altered");
                        let options = ExchangeDeclareOptions::default();
                        channel.exchange_declare(ExchangeType::Direct, &exchange, options).map_err(fail)?;
                        channel.queue_bind(name, &exchange, name, FieldTable::default()).map_err(fail)?;
                        channel.exchange_delete(&exchange, false).map_err(fail)
                    }
                    ["DROP", "TABLE", name] => {
                        channel.queue_delete(name, amiquip::QueueDeleteOptions::default()).map(drop).map_err(fail)
                    }
                    _ => panic!("no rabbitmq form for {sql}"),
                }?;
                channel.close().map_err(fail)
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
