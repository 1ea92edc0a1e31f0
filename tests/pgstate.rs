//! The state on PostgreSQL: opening and migrating a schema (once, however many hosts
//! open it at once), the refusals (newer schema, foreign schema, missing privileges,
//! an unreachable or silent server) with exit 4 and no password shown, and TLS
//! against a private server of this test's own.

use crate::common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use addons::error::{exit_of, Exit};
use addons::store::backend::{Backend, StoreError};
use addons::store::StateLocation;
use common::pgstate::{with_schema, Schema};

/// The schema version a state on PostgreSQL is migrated to.
const LATEST: i64 = addons::store::postgres::schema::MIGRATIONS.len() as i64;

/// Opens the PostgreSQL state at `url`.
fn open(url: &str) -> Result<Box<dyn Backend>, StoreError> {
    match StateLocation::parse(url, None).expect("a valid state URL") {
        StateLocation::Postgres(location) => addons::store::postgres::open(&location),
        StateLocation::File(_) => panic!("{url} is not a PostgreSQL URL"),
    }
}

/// The one-line refusal of opening `url`, checked to be exit 4 and to name the server.
fn refusal(url: &str) -> String {
    let err = match open(url) {
        Ok(_) => panic!("opening {url} was not refused"),
        Err(err) => anyhow::Error::from(err),
    };
    let text = format!("{err:#}");
    assert_eq!(exit_of(&err), Exit::StateUnusable, "{text}");
    assert!(text.starts_with("state postgres"), "the refusal does not name the state: {text}");
    assert!(!text.contains('\n'), "not one line: {text}");
    text
}

fn tables_of(schema: &Schema) -> Vec<String> {
    schema
        .admin()
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
            &[&schema.name],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[test]
fn a_fresh_schema_is_made_and_migrated_once_by_hosts_opening_it_at_once() {
    let Some(admin) = common::pgstate::server("PostgreSQL state test") else { return };
    let schema = Schema::fresh(&admin);
    let url = schema.url();
    let opened: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..6).map(|_| scope.spawn(|| open(&url).map(|mut backend| backend.schema_version()))).collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    for result in opened {
        match result {
            Ok(Ok(version)) => assert_eq!(version, LATEST),
            Ok(Err(err)) | Err(err) => panic!("a concurrent open failed: {err}"),
        }
    }
    assert_eq!(
        tables_of(&schema),
        [
            "addons",
            "apps",
            "attachments",
            "backups",
            "config_vars",
            "events",
            "hook_runs",
            "retired",
            "schema_meta",
            "troubles"
        ]
    );
    let meta =
        schema.admin().query(&format!("SELECT application, version FROM {}.schema_meta", schema.name), &[]).unwrap();
    assert_eq!(meta.len(), 1, "one marker row");
    assert_eq!((meta[0].get::<_, String>(0), meta[0].get::<_, i32>(1)), ("addons".to_string(), LATEST as i32));
    // Opening it again changes nothing.
    let before = schema.dump();
    open(&url).unwrap();
    assert_eq!(schema.dump(), before);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let Some(admin) = common::pgstate::server("PostgreSQL state test") else { return };
    let schema = Schema::fresh(&admin);
    drop(open(&schema.url()).unwrap());
    schema.admin().batch_execute(&format!("UPDATE {}.schema_meta SET version = 99", schema.name)).unwrap();
    let before = schema.dump();
    let text = refusal(&schema.url());
    assert!(text.contains("newer addons (schema 99") && text.contains("upgrade addons"), "{text}");
    assert_eq!(schema.dump(), before);
}

#[test]
fn a_schema_of_some_other_program_is_refused_and_left_alone() {
    let Some(admin) = common::pgstate::server("PostgreSQL state test") else { return };
    for foreign in [
        "CREATE TABLE {s}.orders (id int)",
        // A look-alike marker table of another program.
        "CREATE TABLE {s}.schema_meta (application text, version int); INSERT INTO {s}.schema_meta VALUES ('billing', 1)",
        "CREATE TABLE {s}.schema_meta (name text)",
    ] {
        let schema = Schema::fresh(&admin);
        let setup = format!("CREATE SCHEMA {s}; {}", foreign.replace("{s}", &schema.name), s = schema.name);
        schema.admin().batch_execute(&setup).unwrap();
        let before = (tables_of(&schema), schema.dump());
        let text = refusal(&schema.url());
        assert!(text.contains("not an addons state") && text.contains("?schema="), "{foreign}: {text}");
        assert_eq!((tables_of(&schema), schema.dump()), before, "{foreign}: the schema was changed");
    }
}

/// A login role of this test's own, dropped with what it was granted at the end.
struct Role {
    admin: String,
    name: String,
}

impl Role {
    fn new(admin: &str) -> Role {
        let name = format!("addons_t_{:08x}", rand::random::<u32>());
        let mut client = common::servers::connect_postgres(admin).unwrap();
        client.batch_execute(&format!("CREATE ROLE {name} LOGIN PASSWORD 'hunter2-role'")).unwrap();
        Role { admin: admin.to_string(), name }
    }

    /// The admin URL with this role as the user.
    fn url(&self, schema: &str) -> String {
        let mut url = url::Url::parse(&self.admin).unwrap();
        url.set_username(&self.name).unwrap();
        url.set_password(Some("hunter2-role")).unwrap();
        with_schema(url.as_str(), schema)
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Ok(mut client) = common::servers::connect_postgres(&self.admin) {
            let _ = client.batch_execute(&format!("DROP OWNED BY {0}; DROP ROLE {0}", self.name));
        }
    }
}

#[test]
fn a_user_without_the_privileges_it_needs_is_refused_with_the_grant_to_run() {
    let Some(admin) = common::pgstate::server("PostgreSQL state test") else { return };
    let role = Role::new(&admin);
    let schema = Schema::fresh(&admin);

    // No CREATE on the database: the schema can't be made.
    let text = refusal(&role.url(&schema.name));
    assert!(text.contains(&format!("user {} may not create schema {}", role.name, schema.name)), "{text}");
    assert!(text.contains("GRANT CREATE ON DATABASE"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(tables_of(&schema).is_empty());

    // The state made by the admin, and the role given nothing in it.
    drop(open(&schema.url()).unwrap());
    let before = schema.dump();
    let text = refusal(&role.url(&schema.name));
    assert!(text.contains(&format!("GRANT USAGE ON SCHEMA {} TO {}", schema.name, role.name)), "{text}");
    schema.admin().batch_execute(&format!("GRANT USAGE ON SCHEMA {} TO {}", schema.name, role.name)).unwrap();
    let text = refusal(&role.url(&schema.name));
    assert!(text.contains("may not read and write") && text.contains("ON ALL TABLES IN SCHEMA"), "{text}");
    assert_eq!(schema.dump(), before);

    // With the grants the README gives, the role uses the state.
    schema
        .admin()
        .batch_execute(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}",
            schema.name, role.name
        ))
        .unwrap();
    let mut backend = open(&role.url(&schema.name)).unwrap();
    let mut txn = backend.write().unwrap();
    txn.ensure_app("web").unwrap();
    txn.commit().unwrap();
}

#[test]
fn an_unreachable_server_is_refused_quickly_without_the_password() {
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = refusal(&format!("postgres://state:hunter2-secret@127.0.0.1:{closed}/db"));
    assert!(text.contains("can't reach the server") && text.contains("check that it is up"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    // A server that accepts the connection and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let text = refusal(&format!("postgresql://state:hunter2-secret@127.0.0.1:{port}/db?connect_timeout=1"));
    // The named time is the whole wait: the login's answer, and the session settings after it.
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(4), "took {took:?}: {text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("did not answer within 1s"), "{text}");
    drop(silent);
}

/// A throwaway PostgreSQL cluster of this test's own on a free port, that takes only
/// TLS connections, with a self-signed certificate for `localhost` (not for
/// 127.0.0.1). Stopped and removed on drop.
struct TlsServer {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl TlsServer {
    /// `None` (with a NOTICE) when the PostgreSQL server programs are not installed and
    /// servers are not required.
    fn start() -> Option<TlsServer> {
        let bin = common::servers::postgres_programs("the TLS test")?;
        let dir = tempfile::Builder::new().prefix("addons-tls").tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let root = dir.path().to_path_buf();
        let path = |name: &str| root.join(name).display().to_string();
        // A root of our own, and a server certificate it signs for localhost (a CA's own
        // certificate is no server certificate: rustls, like browsers, refuses that).
        let openssl = |args: &[&str]| {
            let run = std::process::Command::new("openssl").args(args).output().unwrap();
            assert!(run.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&run.stderr));
        };
        let (root_key, root_crt) = (path("root.key"), path("root.crt"));
        let (key, csr, crt, ext) = (path("server.key"), path("server.csr"), path("server.crt"), path("server.ext"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=addons test root",
            "-keyout",
            &root_key,
            "-out",
            &root_crt,
        ]);
        openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", &key, "-out", &csr]);
        std::fs::write(&ext, "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &root_crt,
            "-CAkey",
            &root_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ]);
        let server = TlsServer { dir, bin, port };
        // initdb and postgres refuse to run as root: they run as the postgres user then.
        if unsafe { libc::geteuid() } == 0 {
            let owner = std::process::Command::new("chown").args(["-R", "postgres:", &path("")]).status().unwrap();
            assert!(owner.success());
        }
        server.run("initdb", &["-D", &path("data"), "-A", "trust", "-U", "postgres", "-N"]);
        let hba = "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n";
        std::fs::write(path("data/pg_hba.conf"), hba).unwrap();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c fsync=off",
            path(""),
            path("server.crt"),
            path("server.key")
        );
        server.run("pg_ctl", &["-D", &path("data"), "-l", &path("log"), "-o", &options, "-w", "start"]);
        Some(server)
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if unsafe { libc::geteuid() } == 0 {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            std::process::Command::new(&program)
        };
        let output = command.args(args).current_dir(self.dir.path()).output().unwrap();
        assert!(
            output.status.success(),
            "{}: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres:hunter2-tls@{host}:{}/postgres?{query}", self.port)
    }

    fn root_cert(&self) -> String {
        self.dir.path().join("root.crt").display().to_string()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

#[test]
fn tls_is_used_and_checked_as_sslmode_says() {
    let Some(server) = TlsServer::start() else { return };
    let root = format!("sslrootcert={}", server.root_cert());
    // The server takes TLS only: a plain connection is turned away.
    let text = refusal(&server.url("127.0.0.1", "sslmode=disable"));
    assert!(text.contains("no pg_hba.conf entry") || text.contains("refused user"), "{text}");
    // Encrypted without a check; and with the chain checked but not the host name.
    for query in ["sslmode=require".to_string(), "sslmode=prefer".to_string(), format!("sslmode=verify-ca&{root}")] {
        open(&server.url("127.0.0.1", &query)).unwrap_or_else(|err| panic!("{query}: {err}"));
    }
    // The certificate names localhost: verify-full takes it there, and refuses it for
    // 127.0.0.1, and refuses an unknown root anywhere.
    open(&server.url("localhost", &format!("sslmode=verify-full&{root}"))).unwrap();
    for (host, query) in
        [("127.0.0.1", format!("sslmode=verify-full&{root}")), ("localhost", "sslmode=verify-full".into())]
    {
        let text = refusal(&server.url(host, &query));
        assert!(text.contains("invalid peer certificate"), "{host} {query}: {text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
    let text = refusal(&server.url("localhost", "sslmode=verify-full&sslrootcert=/nonexistent/root.crt"));
    assert!(text.contains("can't read sslrootcert /nonexistent/root.crt"), "{text}");
}

/// An addon row as the store would insert it, due at `due_at`.
fn addon_row(id: &str, name: &str, due_at: Option<i64>) -> addons::addon::Addon {
    addons::addon::Addon {
        id: id.into(),
        name: name.into(),
        provider: "secret".into(),
        app: "web".into(),
        prefix: None,
        params: Default::default(),
        seed: vec![7; 32],
        state: addons::machine::State::WaitingForProvision,
        message: "provisioning".into(),
        vars: vec![format!("{}_KEY", name.to_uppercase())],
        config: None,
        begun: false,
        cleanup: addons::addon::Cleanup::None,
        attempts: 0,
        due_at,
        deadline_at: i64::MAX / 2,
        claim: None,
        claim_until: None,
        created_at: 1,
        updated_at: 1,
        failure: None,
        last_error: None,
        last_error_permanent: false,
        labels: Default::default(),
        expires_at: None,
        login: addons::credential::Login::PROVISIONED,
        verified_at: None,
        drift: None,
        attachments: Vec::new(),
        source_id: None,
        backup_schedule: None,
        version: 0,
        server: None,
    }
}

#[test]
fn claims_skip_what_another_host_is_claiming_and_leases_run_on_the_server_clock() {
    let Some(admin) = common::pgstate::server("PostgreSQL state test") else { return };
    let schema = Schema::fresh(&admin);
    let mut first = open(&schema.url()).unwrap();
    let mut second = first.reopen().unwrap();
    let mut txn = first.write().unwrap();
    txn.ensure_app("web").unwrap();
    for (id, name) in [("a1", "one"), ("a2", "two")] {
        txn.insert_addon(&addon_row(id, name, Some(0))).unwrap();
    }
    txn.commit().unwrap();

    // Host one claims one addon and has not committed: host two gets the other one at
    // once instead of waiting for the row.
    let lease = Duration::from_secs(60);
    let mut one = first.write().unwrap();
    let server_now = one.now().unwrap();
    let taken = one.claim_due("host-one", i64::MAX, lease, 1, None).unwrap();
    assert_eq!(taken.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["a1"]);
    let claim_until = taken[0].claim_until.unwrap();
    assert!(
        (claim_until - server_now - 60_000).abs() < 5_000,
        "the lease is not server now + 60s: {claim_until} vs {server_now}"
    );
    let started = Instant::now();
    let mut two = second.write().unwrap();
    let taken = two.claim_due("host-two", i64::MAX, lease, 10, None).unwrap();
    assert_eq!(taken.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["a2"]);
    assert!(started.elapsed() < Duration::from_secs(5), "host two waited for host one's lock");
    two.commit().unwrap();
    one.commit().unwrap();

    // Both claims hold now; once one is made to run out, the other host may take it.
    let mut txn = second.write().unwrap();
    assert!(txn.claim_due("host-two", i64::MAX, lease, 10, None).unwrap().is_empty());
    let mut holders = txn.claim_holders().unwrap();
    holders.sort();
    assert_eq!(holders, ["host-one", "host-two"]);
    assert_eq!(txn.expire_claims_of("host-one").unwrap(), 1);
    let taken = txn.claim_due("host-two", i64::MAX, lease, 10, Some(&["a1".to_string()])).unwrap();
    assert_eq!(taken.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["a1"]);
    assert!(txn.release_claim("a1", "host-two").unwrap());
    assert!(!txn.release_claim("a1", "host-one").unwrap());
    txn.commit().unwrap();
}

#[test]
fn a_broken_uniqueness_rule_is_a_conflict_and_a_savepoint_undoes_one_step() {
    use addons::store::backend::Conflict;
    let Some(admin) = common::pgstate::server("PostgreSQL state test") else { return };
    let schema = Schema::fresh(&admin);
    let mut backend = open(&schema.url()).unwrap();
    let mut txn = backend.write().unwrap();
    txn.ensure_app("web").unwrap();
    txn.insert_addon(&addon_row("a1", "db", None)).unwrap();
    txn.reserve_var("web", "DATABASE_URL", "a1").unwrap();
    txn.savepoint().unwrap();
    assert!(matches!(txn.insert_addon(&addon_row("a2", "db", None)), Err(StoreError::Conflict(Conflict::LiveName))));
    txn.rollback_savepoint().unwrap();
    txn.savepoint().unwrap();
    assert!(matches!(txn.reserve_var("web", "DATABASE_URL", "a1"), Err(StoreError::Conflict(Conflict::VarKey))));
    txn.rollback_savepoint().unwrap();
    // The transaction goes on after the undone steps.
    assert!(txn.fill_var("web", "DATABASE_URL", "a1", "postgres://x").unwrap());
    txn.commit().unwrap();
    let mut read = backend.read().unwrap();
    assert_eq!(read.list_addons(None, true).unwrap().len(), 1);
    assert_eq!(read.vars("web").unwrap()[0].addon.as_deref(), Some("db"));
}

#[test]
fn the_binary_refuses_an_unusable_postgresql_state_with_exit_4_and_one_line() {
    let Some(admin) = common::pgstate::server("PostgreSQL state test") else { return };
    let env = common::TestEnv::new();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let newer = Schema::fresh(&admin);
    drop(open(&newer.url()).unwrap());
    newer.admin().batch_execute(&format!("UPDATE {}.schema_meta SET version = 99", newer.name)).unwrap();
    let with_password = |url: &str| url.replacen("postgres://postgres@", "postgres://postgres:hunter2-secret@", 1);
    for (url, phrase) in [
        (format!("postgres://state:hunter2-secret@127.0.0.1:{closed}/db"), "can't reach the server"),
        (with_password(&newer.url()), "newer addons"),
    ] {
        for json in [false, true] {
            let mut args = vec!["--state", url.as_str(), "list"];
            if json {
                args.push("--json");
            }
            let run = env.run(&args);
            assert_eq!(run.code, 4, "{run}");
            assert!(run.stdout.is_empty() || json, "{run}");
            let said = if json { run.stdout.clone() + &run.stderr } else { run.stderr.clone() };
            assert!(said.contains(phrase) && said.contains("state postgres://"), "{run}");
            assert!(!said.contains("hunter2"), "the password was shown: {run}");
            assert_eq!(said.trim_end().lines().count(), 1, "{run}");
        }
    }
}

#[test]
fn completion_peeks_at_a_postgresql_state_without_making_one() {
    let Some(admin) = common::pgstate::server("PostgreSQL state test") else { return };
    let schema = Schema::fresh(&admin);
    let location = || StateLocation::parse(&schema.url(), None).unwrap();
    assert!(addons::store::Store::peek(location()).is_none(), "a state that does not exist was opened");
    assert!(tables_of(&schema).is_empty(), "peeking made the state");
    let exists = |client: &mut postgres::Client| {
        client
            .query_one("SELECT count(*) FROM pg_namespace WHERE nspname = $1", &[&schema.name])
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(exists(&mut schema.admin()), 0, "peeking made the schema");
    drop(open(&schema.url()).unwrap());
    let store = addons::store::Store::peek(location()).expect("an existing state is peeked at");
    assert_eq!(store.addon_names(false).unwrap(), Vec::<String>::new());
}

#[test]
fn a_postgresql_state_url_the_client_cannot_use_is_a_usage_error() {
    let env = common::TestEnv::new();
    for (query, phrase) in [("sslmode=bogus", "sslmode=\"bogus\""), ("sslcert=/x.pem", "\"sslcert\"")] {
        let url = format!("postgres://state:hunter2-secret@127.0.0.1:1/db?{query}");
        let run = env.run(["--state", url.as_str(), "list"]);
        assert_eq!(run.code, 2, "{query}: {run}");
        assert!(run.stderr.contains(phrase), "{query}: {run}");
        assert!(!run.stderr.contains("hunter2"), "{run}");
        assert_eq!(run.stderr.lines().count(), 1, "{run}");
    }
}

#[test]
fn a_state_urls_options_reach_the_server_as_written() {
    let Some(admin) = common::pgstate::server("PostgreSQL state test") else { return };
    let env = common::TestEnv::new();
    let schema = Schema::fresh(&admin);
    // As libpq reads it: a space written %20, `=` written %3D, before and after ?schema=.
    let url = format!("{}&options=-c%20statement_timeout%3D60000", schema.url());
    let run = env.run(["--state", url.as_str(), "provision", "secret", "web", "--name", "key"]);
    assert_eq!(run.code, 0, "{run}");
    // The server applied it: a state session made read-only by it can't write.
    let read_only = format!("{admin}?options=-c%20default_transaction_read_only%3Don&schema={}", schema.name);
    let listed = env.run(["--state", read_only.as_str(), "list", "--json"]);
    assert_eq!(listed.code, 0, "{listed}");
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1), "{listed}");
    let refused = env.run(["--state", read_only.as_str(), "config", "set", "web", "A=1"]);
    assert_eq!(refused.code, 4, "{refused}");
    assert!(refused.stderr.contains("read-only"), "{refused}");
}

/// What a command said to the server, as a proxy between them saw it: how many
/// connections it opened, and each flight of bytes the client sent once the server had
/// answered the one before (a round trip each), as text.
struct Flights {
    connections: usize,
    flights: Vec<String>,
}

/// Runs `addons ARGS` against the state at `url` through a proxy that counts flights.
fn through_a_proxy(url: &str, args: &[&str]) -> Flights {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let target = url::Url::parse(url).unwrap();
    let upstream = format!("{}:{}", target.host_str().unwrap(), target.port().unwrap_or(5432));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut proxied = target.clone();
    proxied.set_port(Some(listener.local_addr().unwrap().port())).unwrap();
    let seen = Arc::new(Mutex::new(Flights { connections: 0, flights: Vec::new() }));
    {
        let seen = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let mut server = std::net::TcpStream::connect(&upstream).unwrap();
                seen.lock().unwrap().connections += 1;
                // Whether the server spoke since the client last did: the next bytes from
                // the client start a new flight.
                let answered = Arc::new(Mutex::new(true));
                let (mut from_server, mut to_client) = (server.try_clone().unwrap(), client.try_clone().unwrap());
                let flag = answered.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n @ 1..) = from_server.read(&mut buf) {
                        *flag.lock().unwrap() = true;
                        if to_client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n @ 1..) = client.read(&mut buf) {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        let mut new_flight = answered.lock().unwrap();
                        let mut seen = seen.lock().unwrap();
                        match (*new_flight, seen.flights.last_mut()) {
                            (false, Some(last)) => last.push_str(&text),
                            _ => seen.flights.push(text),
                        }
                        *new_flight = false;
                        drop(seen);
                        drop(new_flight);
                        if server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
    }
    let env = common::TestEnv::on_sqlite_file();
    let mut full = vec!["--state", proxied.as_str()];
    full.extend_from_slice(args);
    let run = env.run(full);
    assert_eq!(run.code, 0, "{run}");
    std::thread::sleep(Duration::from_millis(100));
    let seen = seen.lock().unwrap();
    Flights { connections: seen.connections, flights: seen.flights.clone() }
}

/// A command against a PostgreSQL state of this version costs one connection, and the
/// login and one round trip (the session settings, the marker, the privileges and
/// whether the state moved, in one batch) before its own work.
#[test]
fn opening_a_current_state_costs_one_connection_and_two_round_trips() {
    let Some(admin) = common::pgstate::server("PostgreSQL start-up round trips") else { return };
    let schema = Schema::fresh(&admin);
    let env = common::TestEnv::on_sqlite_file();
    env.ok(["--state", &schema.url(), "config", "set", "web", "A=1"]);
    // In the clear, so that the proxy reads what is said (TLS would add its handshake).
    let seen = through_a_proxy(&format!("{}&sslmode=disable", schema.url()), &["config", "web"]);
    assert_eq!(seen.connections, 1, "{:?}", seen.flights);
    let own_work = seen
        .flights
        .iter()
        .position(|flight| flight.contains("START TRANSACTION") || flight.contains("BEGIN"))
        .unwrap_or_else(|| panic!("no transaction of the command's own: {:?}", seen.flights));
    // The login (its startup message), then the opening batch.
    assert!(own_work <= 2, "{own_work} round trips before the command's own work: {:?}", seen.flights);
}
