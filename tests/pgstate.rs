//! The state on PostgreSQL: opening and migrating a schema (once, however many hosts
//! open it at once), the refusals (newer schema, foreign schema, missing privileges,
//! an unreachable or silent server) with exit 4 and no password shown, and TLS
//! against a private server of this test's own.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use addons::error::exit_code_of;
use addons::store::backend::{Backend, StoreError};
use addons::store::StateLocation;
use common::pgstate::{with_schema, Schema};

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
    assert_eq!(exit_code_of(&err), 4, "{text}");
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
            Ok(Ok(version)) => assert_eq!(version, 1),
            Ok(Err(err)) | Err(err) => panic!("a concurrent open failed: {err}"),
        }
    }
    assert_eq!(tables_of(&schema), ["addons", "apps", "config_vars", "events", "schema_meta"]);
    let meta = schema.admin().query(&format!("SELECT application, version FROM {}.schema_meta", schema.name), &[]).unwrap();
    assert_eq!(meta.len(), 1, "one marker row");
    assert_eq!((meta[0].get::<_, String>(0), meta[0].get::<_, i32>(1)), ("addons".to_string(), 1));
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
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("did not answer") || text.contains("timed out"), "{text}");
    drop(silent);
}
