//! A PostgreSQL cluster of a test's own, on a port and socket directory of its own,
//! where every login is checked by its password (scram-sha-256): what a test of a login's
//! password needs, as the shared test server trusts local logins.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;

use super::servers;

/// A PostgreSQL cluster of this test's own, on a port and socket directory of its own,
/// where `postgres` logs in with a password. Stopped and removed on drop.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

pub const CLUSTER_PASSWORD: &str = "cluster-pw";

impl Cluster {
    pub fn start() -> Option<Cluster> {
        let bin = servers::postgres_programs("a private cluster")?;
        let dir = tempfile::Builder::new().prefix("addons-cluster").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Cluster { dir, bin, port };
        std::fs::write(cluster.path("pw"), CLUSTER_PASSWORD).unwrap();
        // initdb and postgres refuse to run as root: they run as the postgres user then.
        if unsafe { libc::geteuid() } == 0 {
            let owner = Command::new("chown").args(["-R", "postgres:", &cluster.path("")]).status().unwrap();
            assert!(owner.success());
        }
        let pwfile = format!("--pwfile={}", cluster.path("pw"));
        cluster.run("initdb", &["-D", &cluster.path("data"), "-A", "scram-sha-256", "-U", "postgres", &pwfile, "-N"]);
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", cluster.port, cluster.path(""));
        cluster
            .run("pg_ctl", &["-D", &cluster.path("data"), "-l", &cluster.path("log"), "-o", &options, "-w", "start"]);
        Some(cluster)
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = match unsafe { libc::geteuid() } == 0 {
            true => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(&program);
                command
            }
            false => Command::new(&program),
        };
        let output = command.args(args).current_dir(self.dir.path()).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{}: {said}", program.display());
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres:{CLUSTER_PASSWORD}@127.0.0.1:{}/postgres", self.port)
    }

    /// The roles named like an addon's on this cluster.
    pub fn roles(&self) -> Vec<String> {
        let mut client = servers::connect_postgres(&self.url()).unwrap();
        let rows = client.query("SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'addons\\_%' ORDER BY 1", &[]);
        rows.unwrap().iter().map(|row| row.get(0)).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.run("pg_ctl", &["-D", &self.path("data"), "-m", "immediate", "-w", "stop"]);
    }
}
