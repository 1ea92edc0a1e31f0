//! The times `addons` names are the times it waits: a server that accepts connections
//! and never answers is reported after the provider's `connect_timeout` (the whole
//! login, every phase of it), in a line that names that time.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{Run, TestEnv};

/// The `connect_timeout` the tests configure: small, so a test is short.
const NAMED: &str = "1s";
/// What a run may take beyond the named time (process start, a loaded machine) without
/// the time being called wrong; a second wait of the named time on top would pass it
/// only with more than this to spare, and the waits this guards against were 2 to 30
/// times the named one.
const SLACK: Duration = Duration::from_secs(3);

/// A server on a free port of 127.0.0.1 that accepts every connection, holds it open and
/// never sends a byte; it stops listening when dropped (the process ends the thread).
struct Silent {
    port: u16,
    _listener: TcpListener,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("its port").port();
        let accepting = listener.try_clone().expect("a second handle");
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            for stream in accepting.incoming() {
                match stream {
                    Ok(stream) => held.push(stream),
                    Err(_) => return,
                }
            }
        });
        Silent { port, _listener: listener }
    }
}

/// The admin URL of `provider` on the silent server.
fn url(provider: &str, port: u16) -> String {
    match provider {
        "postgres" => format!("postgres://postgres:hunter2-secret@127.0.0.1:{port}/postgres"),
        "mysql" => format!("mysql://root:hunter2-secret@127.0.0.1:{port}"),
        "redis" => format!("redis://:hunter2-secret@127.0.0.1:{port}"),
        "rabbitmq" => format!("http://guest:hunter2-secret@127.0.0.1:{port}"),
        "mqtt" => format!("mqtt://admin:hunter2-secret@127.0.0.1:{port}"),
        other => panic!("{other} has no server"),
    }
}

/// Runs `args` against `provider` pointed at a silent server with `connect_timeout`
/// set to [`NAMED`]; what it did and how long it took.
fn against_silent(provider: &str, args: &[&str]) -> (Run, Duration) {
    let silent = Silent::start();
    let env = TestEnv::with_config(&format!(
        "[providers.{provider}]\nurl = {:?}\nconnect_timeout = {NAMED:?}\n",
        url(provider, silent.port)
    ));
    let started = Instant::now();
    let run = env.run_within(Duration::from_secs(60), args);
    (run, started.elapsed())
}

/// Asserts the run failed with exit 1 within the named time (plus [`SLACK`]), not
/// before it, saying that time, and without the password.
fn assert_reported_at_the_named_time(provider: &str, args: &[&str], run: &Run, took: Duration) {
    let named = humantime::parse_duration(NAMED).unwrap();
    assert_eq!(run.code, 1, "{provider}: addons {args:?}:\n{run}");
    assert!(run.stderr.contains(&format!("no answer within {NAMED}")), "{provider}: addons {args:?}:\n{run}");
    assert!(!run.stderr.contains("hunter2"), "{run}");
    assert!(took >= named, "{provider}: addons {args:?} gave up after {took:?}, before {NAMED}:\n{run}");
    assert!(took < named + SLACK, "{provider}: addons {args:?} said {NAMED} but took {took:?}:\n{run}");
}

#[test]
fn a_silent_server_fails_provision_at_the_named_connect_timeout() {
    for provider in ["postgres", "mysql", "redis", "rabbitmq", "mqtt"] {
        let args = ["provision", provider, "web"];
        let (run, took) = against_silent(provider, &args);
        assert_reported_at_the_named_time(provider, &args, &run, took);
        assert_eq!(run.stderr.lines().count(), 1, "{run}");
    }
}

#[test]
fn a_silent_server_fails_providers_check_at_the_named_connect_timeout() {
    for provider in ["postgres", "mysql", "redis", "rabbitmq", "mqtt"] {
        let args = ["providers", "--check"];
        let (run, took) = against_silent(provider, &args);
        assert_reported_at_the_named_time(provider, &args, &run, took);
        let row = run.stdout.lines().find(|line| line.starts_with(provider)).unwrap_or_default();
        assert!(row.contains("unreachable") && row.contains(&format!("no answer within {NAMED}")), "{run}");
    }
}

#[test]
fn connect_timeout_must_be_a_duration() {
    let env = TestEnv::with_config("[providers.redis]\nurl = \"redis://127.0.0.1:1\"\nconnect_timeout = \"soon\"\n");
    let line = env.fails(2, ["providers"]);
    assert!(line.contains("line 3") && line.contains("connect_timeout") && line.contains("30s"), "{line}");
}

#[test]
fn providers_check_asks_every_silent_server_at_once() {
    let servers: Vec<(&str, Silent)> =
        ["postgres", "mysql", "redis", "rabbitmq", "mqtt"].map(|provider| (provider, Silent::start())).into();
    let config: String = servers
        .iter()
        .map(|(provider, silent)| {
            format!("[providers.{provider}]\nurl = {:?}\nconnect_timeout = {NAMED:?}\n", url(provider, silent.port))
        })
        .collect();
    let env = TestEnv::with_config(&config);
    let args = ["providers", "--check"];
    let started = Instant::now();
    let run = env.run_within(Duration::from_secs(60), args);
    assert_reported_at_the_named_time("every provider", &args, &run, started.elapsed());
    for (provider, _) in &servers {
        let row = run.stdout.lines().find(|line| line.starts_with(provider)).unwrap_or_default();
        assert!(row.contains("unreachable") && row.contains(&format!("no answer within {NAMED}")), "{run}");
    }
}
