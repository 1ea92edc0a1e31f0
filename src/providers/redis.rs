//! The `redis` provider: one ACL user per addon, limited to the keys and channels under its prefix.

use std::time::Duration;

use redis::{Cmd, Connection, ConnectionInfo, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError};

use super::server::{ServerSettings, ServerSpec};
use super::{Backups, Capabilities, Copies, Provider, ProviderError, ProviderInfo, ReadOnly, Readiness, Sort};

mod backup;
mod copy;
mod credentials;
use crate::addon::Resource;

/// Registry entry for `redis`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "redis",
    summary: "a Redis ACL user limited to its own key prefix",
    vars: &["REDIS_URL", "REDIS_KEY_PREFIX"],
    params: &[],
    check_params: |_| Ok(()),
    example: Some(SERVER.example),
    configure: |section| ServerSettings::configure(section, &SERVER, Redis::new),
    rotation: super::Rotates::WithOverlap,
    acts_outside: true,
};

/// What `[providers.redis]` takes.
const SERVER: ServerSpec = ServerSpec {
    name: "redis",
    schemes: &["redis"],
    app_schemes: &["redis"],
    default_port: 6379,
    example: "[providers.redis]\nurl = \"redis://default:PASSWORD@127.0.0.1:6379\"",
};

/// How long to wait for a connection, and then for each answer: a down server must not hang a tick.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Keys asked for per SCAN step when deprovisioning (each step's keys go in one UNLINK).
const SCAN_COUNT: usize = 500;

/// The oldest server that can take `COMMAND_RULES`: removing single subcommands from a user
/// (`-pubsub|channels`) and SORT's ACL checks came with Redis 7.0.
const MIN_VERSION: (u32, u32) = (7, 0);

/// What an addon's user may run. Its key and channel patterns confine every command that names
/// keys or channels; these rules remove every command that reaches past them: one that reveals
/// other addons (their key or channel names, counts, clients, statistics) or shares state with
/// them. Checked command by command against Redis 7.0 (README, "Redis: what an addon may run").
const COMMAND_RULES: &[&str] = &[
    "+@all",
    // CONFIG, ACL, DEBUG, SHUTDOWN, MONITOR, CLIENT LIST/KILL/PAUSE/NO-EVICT, SLOWLOG, LATENCY,
    // ROLE, LASTSAVE, replication, modules.
    "-@admin",
    // FLUSHALL, FLUSHDB, SWAPDB, KEYS, MIGRATE, RESTORE, SORT, and INFO: every section of INFO
    // is about the whole server (keyspace, clients, commandstats, memory), and an ACL rule
    // can't keep one section (`+info|server` checks only the first of several sections).
    "-@dangerous",
    // Redis 7 refuses SORT's BY and GET patterns to users without access to every key.
    "+sort",
    "+sort_ro",
    // EVAL, EVALSHA, FCALL, SCRIPT, FUNCTION: scripts and functions live in one cache for the
    // whole server, where any user can find (SCRIPT EXISTS), list, run or fill another's.
    "-@scripting",
    // These list or count the keys, channels and subscribers of every addon, whatever the
    // patterns say.
    "-scan",
    "-randomkey",
    "-dbsize",
    "-client|tracking",
    "-pubsub",
    "-cluster|countkeysinslot",
    "-cluster|getkeysinslot",
    // Server-wide memory figures, and a purge that acts on the whole server.
    "-memory|stats",
    "-memory|doctor",
    "-memory|malloc-stats",
    "-memory|purge",
];

/// What an app attached `--read-only` may not run besides (its key pattern `%R~` lets
/// it read alone too): every command that writes (SET, DEL, EXPIRE, FLUSHDB, SORT ...
/// STORE, XREADGROUP) and publishing on the addon's channels.
const READ_ONLY_RULES: &[&str] = &["-@write", "-publish", "-spublish"];

/// The names on the server that belong to one addon, derived from its immutable id.
struct Names {
    /// `addons_<id>`.
    user: String,
    /// `addons:<id>:`.
    prefix: String,
}

impl Names {
    fn of(addon: &Resource<'_>) -> Result<Names, ProviderError> {
        // The id goes into ACL patterns; resource_name lets nothing but hex through.
        let user = super::resource_name(addon)?;
        Ok(Names { user, prefix: format!("addons:{}:", addon.id) })
    }

    /// The glob matching every key (and channel) under the prefix.
    fn pattern(&self) -> String {
        let mut pattern: String = self.prefix.chars().flat_map(glob_escaped).collect();
        pattern.push('*');
        pattern
    }
}

/// Talks to the server named in the config file.
pub struct Redis {
    server: ServerSettings,
}

impl Redis {
    /// Builds the provider for the `[providers.redis]` settings.
    pub fn new(server: ServerSettings) -> Self {
        Redis { server }
    }

    /// Where to connect and as whom, from the admin URL.
    fn connection_info(&self, doing: &str) -> Result<ConnectionInfo, ProviderError> {
        let info = self.server.url.as_str().into_connection_info();
        info.map_err(|err| failure(&self.server, doing, &err))
    }

    /// A fresh connection to the server, as the user `info` names.
    fn connect(&self, info: ConnectionInfo, doing: String) -> Result<Session<'_>, ProviderError> {
        let timeout = self.server.connect_timeout();
        match self.server.within(timeout, &doing, move || open(info, timeout))? {
            Ok(con) => Ok(Session { con, server: &self.server, doing }),
            Err(err) => Err(failure(&self.server, &doing, &err)),
        }
    }

    /// Whether `user` logs in with `password` (`false` when the server refuses it) and
    /// answers a PING: a connection of nobody in particular, then a real `AUTH`.
    fn logs_in(&self, user: &str, password: &str) -> Result<bool, ProviderError> {
        let doing = format!("logging in as {user}");
        let mut info = self.connection_info(&doing)?;
        (info.redis.username, info.redis.password, info.redis.db) = (None, None, 0);
        let mut login = self.connect(info, doing)?;
        match redis::cmd("AUTH").arg(user).arg(password).query::<()>(&mut login.con) {
            Err(err) if err.code() == Some("WRONGPASS") => return Ok(false),
            auth => auth.map_err(|err| failure(login.server, &login.doing, &err).hiding(password))?,
        }
        login.run::<String>(&redis::cmd("PING"))?;
        Ok(true)
    }

    /// A fresh connection as the admin user (one per operation).
    fn admin(&self, doing: String) -> Result<Session<'_>, ProviderError> {
        self.connect(self.connection_info(&doing)?, doing)
    }
}

impl Provider for Redis {
    fn begin_provision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let mut admin = self.admin(format!("creating ACL user {}", names.user))?;
        admin.version()?;
        let password = addon.password();
        admin.set_user(&names, (&names.user, crate::credential::Access::ReadWrite), Some(&password))?;
        admin.save_acl()?;
        let (user, prefix, address) = (names.user, names.prefix, self.server.place());
        Ok(format!("created ACL user {user} on {address}, limited to keys and channels under {prefix}"))
    }

    fn provision_complete(&self, addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        let names = Names::of(&addon)?;
        if !self.logs_in(&names.user, &addon.password())? {
            let doing = format!("logging in as {}", names.user);
            return Err(self.server.error(
                Sort::Permanent,
                &doing,
                "the server refused the user's password (was it changed or deleted outside addons?)",
                "deprovision this addon and provision a new one",
            ));
        }
        Ok(Readiness::Ready)
    }

    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        let names = Names::of(&addon)?;
        let url = self.server.app_url(addon.params, &names.user, &addon.password(), "/0")?;
        Ok(vec![("REDIS_URL".into(), url), ("REDIS_KEY_PREFIX".into(), names.prefix)])
    }

    fn deprovision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let mut admin = self.admin(format!("removing ACL user {} and its keys", names.user))?;
        let (alive, done) = copy::marks(&addon);
        if admin.run::<bool>(redis::cmd("EXISTS").arg(&alive))? {
            // It would go on restoring keys after they are deleted.
            return Err(admin.transient(&format!("a copier is still copying keys under {}", names.prefix)));
        }
        let mut deleted = 0;
        for user in self.addon_users(&mut admin, &addon)? {
            deleted += u64::from(admin.delete_user(&user)? && user == names.user);
        }
        admin.save_acl()?;
        let removed = admin.delete_keys(&names.pattern())?;
        admin.run::<()>(redis::cmd("SELECT").arg(0))?;
        admin.run::<()>(redis::cmd("DEL").arg(&alive).arg(&done))?;
        let user = match deleted {
            0 => format!("ACL user {} was already gone", names.user),
            _ => format!("removed ACL user {}", names.user),
        };
        let (prefix, address) = (names.prefix, self.server.place());
        Ok(format!("{user}; removed {} under {prefix} on {address}", crate::names::plural(removed, "key")))
    }

    fn health(&self) -> Result<String, ProviderError> {
        let version = self.admin("checking the server".into())?.version()?;
        Ok(format!("Redis {version} at {}", self.server.display_url()))
    }

    fn warnings(&self) -> Vec<String> {
        let checked = self.admin("checking the server's ACL settings".into()).and_then(|mut admin| admin.warnings());
        checked.unwrap_or_else(|err| vec![format!("could not check the server's ACL settings: {err}")])
    }

    /// "redis 127.0.0.1:6379 RUN_ID": the address, and the run id of INFO server.
    fn server_identity(&self) -> Result<Option<String>, ProviderError> {
        let mut admin = self.admin("reading the server's run id".into())?;
        let info: String = admin.run(redis::cmd("INFO").arg("server"))?;
        let run_id = info.lines().find_map(|line| line.trim().strip_prefix("run_id:")).unwrap_or_default();
        Ok(Some(format!("redis {} {run_id}", self.server.place())))
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            credentials: Some(self),
            verifier: Some(self),
            copies: Copies::By(self),
            read_only: ReadOnly::Logins,
            backups: Backups::By(self),
        }
    }
}

/// Without an ACL file, the server keeps ACL users in memory only.
const NO_ACL_FILE: &str = "the Redis server has no ACL file: the addons' ACL users live only in its memory and \
     vanish when it restarts, locking their apps out; set aclfile in its redis.conf (see README, Redis)";

/// With no password on `default`, any connection can become `default`, which reaches every key.
const DEFAULT_NOPASS: &str = "the Redis server's default user has no password: any addon's credentials can AUTH \
     default and reach every key; set one with ACL SETUSER default on >PASSWORD (see README, Redis)";

/// An open connection, and what it is for (both go into error messages).
struct Session<'a> {
    con: Connection,
    /// The server, named (its password masked) in every error.
    server: &'a ServerSettings,
    /// What the operation is doing, e.g. "creating ACL user addons_0123456789abcdef".
    doing: String,
}

impl Session<'_> {
    /// Runs one command; a failure comes back sorted, as one line without secrets.
    fn run<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T, ProviderError> {
        cmd.query(&mut self.con).map_err(|err| failure(self.server, &self.doing, &err))
    }

    fn permanent(&self, what: &str) -> ProviderError {
        self.server.error(Sort::Permanent, &self.doing, what, "")
    }

    fn transient(&self, what: &str) -> ProviderError {
        self.server.error(Sort::Transient, &self.doing, what, "")
    }

    /// Reads the server's version, refusing one too old for the ACL rules.
    fn version(&mut self) -> Result<String, ProviderError> {
        let info: String = self.run(redis::cmd("INFO").arg("server"))?;
        let found = info.lines().find_map(|line| line.strip_prefix("redis_version:"));
        let version = found.unwrap_or("unknown").trim().to_string();
        let mut numbers = version.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
        if (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)) < MIN_VERSION {
            let (major, minor) = MIN_VERSION;
            return Err(self.permanent(&format!(
                "the server runs Redis {version}, but the redis provider needs Redis \
                 {major}.{minor} or newer; upgrade it or point providers.redis.url elsewhere"
            )));
        }
        Ok(version)
    }

    /// Whether the server keeps its ACL users in a file (`aclfile`), where they survive a restart.
    fn has_acl_file(&mut self) -> Result<bool, ProviderError> {
        let setting: Vec<String> = self.run(redis::cmd("CONFIG").arg("GET").arg("aclfile"))?;
        Ok(setting.get(1).is_some_and(|file| !file.is_empty()))
    }

    /// Saves the users to the server's ACL file when it has one, so they survive a restart.
    /// (Without one they live in memory, which `warnings` tells the operator; keeping them in
    /// redis.conf with CONFIG REWRITE is left to the operator.)
    fn save_acl(&mut self) -> Result<(), ProviderError> {
        if self.has_acl_file()? {
            self.run::<()>(redis::cmd("ACL").arg("SAVE"))?;
        }
        Ok(())
    }

    /// What undoes the isolation of every addon on this server: users that vanish on a restart,
    /// and a `default` user that anyone may become.
    fn warnings(&mut self) -> Result<Vec<String>, ProviderError> {
        let mut warnings = Vec::new();
        if !self.has_acl_file()? {
            warnings.push(NO_ACL_FILE.to_string());
        }
        // A flat list of field names and values; `flags` holds "on" and "nopass".
        let fields: Vec<redis::Value> = self.run(redis::cmd("ACL").arg("GETUSER").arg("default"))?;
        let flags =
            fields.chunks(2).find(|field| matches!(&field[0], redis::Value::BulkString(name) if name == b"flags"));
        let flags: Vec<String> = match flags {
            Some([_, value]) => {
                redis::from_redis_value(value).map_err(|err| failure(self.server, &self.doing, &err))?
            }
            _ => Vec::new(),
        };
        if flags.iter().any(|flag| flag == "on") && flags.iter().any(|flag| flag == "nopass") {
            warnings.push(DEFAULT_NOPASS.to_string());
        }
        Ok(warnings)
    }

    /// Ends the connections logged in as `user`; a user that is already gone has none.
    fn kill_clients(&mut self, user: &str) -> Result<(), ProviderError> {
        let kill = redis::cmd("CLIENT").arg("KILL").arg("USER").arg(user).query::<u64>(&mut self.con);
        let gone = |err: &RedisError| err.detail().is_some_and(|text| text.contains("No such user"));
        match kill {
            Err(err) if !gone(&err) => Err(failure(self.server, &self.doing, &err)),
            _ => Ok(()),
        }
    }

    /// Deletes the keys matching `pattern` in every database that holds keys (an app may SELECT
    /// another one), with SCAN and UNLINK so the server never blocks; returns how many went.
    fn delete_keys(&mut self, pattern: &str) -> Result<u64, ProviderError> {
        let keyspace: String = self.run(redis::cmd("INFO").arg("keyspace"))?;
        let databases: Vec<u32> =
            keyspace.lines().filter_map(|line| line.strip_prefix("db")?.split_once(':')?.0.parse().ok()).collect();
        let mut removed = 0;
        for db in databases {
            self.run::<()>(redis::cmd("SELECT").arg(db))?;
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(SCAN_COUNT);
                let (next, keys): (u64, Vec<Vec<u8>>) = self.run(&scan)?;
                if !keys.is_empty() {
                    removed += self.run::<u64>(redis::cmd("UNLINK").arg(&keys))?;
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(removed)
    }
}

/// Where the fix for most permanent errors lies.
const FIX_URL: &str = "fix providers.redis.url in the config file";

/// Sorts a failure into transient or permanent, as one line that names the server (never its
/// password), says what failed, and what to do about it.
fn failure(server: &ServerSettings, doing: &str, err: &RedisError) -> ProviderError {
    let code = err.code().unwrap_or_default();
    let detail = err.detail().unwrap_or_default();
    let refused = code == "WRONGPASS" || err.kind() == ErrorKind::AuthenticationFailed;
    let (major, minor) = MIN_VERSION;
    let transient = |what: &str, fix: &str| server.error(Sort::Transient, doing, what, fix);
    let permanent = |what: &str, fix: &str| server.error(Sort::Permanent, doing, what, fix);
    match code {
        _ if err.is_timeout() => {
            transient(&format!("no answer within {}s", TIMEOUT.as_secs()), "is the server overloaded?")
        }
        _ if err.is_connection_refusal() => transient("connection refused", "is Redis running there?"),
        _ if err.is_io_error() => transient(&err.to_string(), "is the server running and reachable?"),
        "LOADING" | "BUSY" | "TRYAGAIN" | "CLUSTERDOWN" | "MASTERDOWN" => {
            transient(&format!("the server answered {code}: {detail}"), "")
        }
        _ if refused => permanent("the admin user's password was refused", FIX_URL),
        "NOAUTH" => permanent("the server wants a password", "put the admin user and password in providers.redis.url"),
        "NOPERM" => permanent(
            &format!("the admin user is refused ({detail})"),
            "give it every permission (+@all ~* &*) or name another user in providers.redis.url",
        ),
        "READONLY" => permanent("the server is a read-only replica", "point providers.redis.url at the primary"),
        // The detail echoes the command's arguments, so it is not shown.
        _ if detail.starts_with("unknown command") => permanent(
            "the server does not know this command",
            &format!("the redis provider needs Redis {major}.{minor} or newer with the ACL command enabled"),
        ),
        _ if err.kind() == ErrorKind::InvalidClientConfig => permanent(&err.to_string(), FIX_URL),
        _ => permanent(&format!("the server answered: {err}"), ""),
    }
}

/// Opens a connection that gives up after `login` connecting and logging in, and after
/// `TIMEOUT` without an answer later.
fn open(info: ConnectionInfo, login: Duration) -> redis::RedisResult<Connection> {
    let con = redis::Client::open(info)?.get_connection_with_timeout(login)?;
    con.set_read_timeout(Some(TIMEOUT))?;
    con.set_write_timeout(Some(TIMEOUT))?;
    Ok(con)
}

/// A character as a glob matches it literally.
fn glob_escaped(c: char) -> Vec<char> {
    if matches!(c, '*' | '?' | '[' | ']' | '\\') {
        vec!['\\', c]
    } else {
        vec![c]
    }
}
