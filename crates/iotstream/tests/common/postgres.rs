//! A PostgreSQL server of the test's own: Debian's binaries, a fresh cluster in a temporary
//! directory, a free port on 127.0.0.1, password authentication (scram), stopped on drop.
//!
//! `initdb` refuses to run as root, so as root the server runs as `nobody` (through `setpriv`) in a
//! directory handed to it. Missing binaries fail the test, unless `IOTSTREAM_SKIP_POSTGRES=1` says
//! to skip it, which prints a SKIPPED line.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The superuser's name and password.
pub const USER: &str = "iot";
pub const PASSWORD: &str = "test-only-pw-1234";

pub struct Postgres {
    pub port: u16,
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    /// `setpriv` words to run a command as `nobody`, when the tests run as root.
    as_nobody: Vec<String>,
    /// Extra `-c` settings (TLS).
    settings: Vec<String>,
}

/// The directory holding `initdb` and `pg_ctl`: `IOTSTREAM_PG_BIN`, or the newest Debian version.
pub fn binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("IOTSTREAM_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|p| p.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    versions.pop()
}

/// True (after saying so) when PostgreSQL is missing and the run allows skipping; panics when it
/// is missing and skipping was not asked for.
pub fn skip(test: &str) -> bool {
    if binaries().is_some() {
        return false;
    }
    match std::env::var("IOTSTREAM_SKIP_POSTGRES").ok().as_deref() {
        Some("1") => {
            eprintln!("SKIPPED: {test} (PostgreSQL is not installed and IOTSTREAM_SKIP_POSTGRES=1)");
            true
        }
        _ => panic!(
            "PostgreSQL is not installed: scripts/test installs it (apt-get install postgresql), \
             or set IOTSTREAM_SKIP_POSTGRES=1 to skip the PostgreSQL tests"
        ),
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn id(flag: &str) -> u32 {
    let out = Command::new("id").args([flag, "nobody"]).output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("nobody's id")
}

impl Postgres {
    /// A running server (see [`skip`] for when there is none).
    pub fn start() -> Postgres {
        Postgres::start_with(&[])
    }

    /// A running server with extra `postgresql.conf` settings (`ssl=on`, …); `setup` runs on the
    /// data directory after `initdb` (certificates, `pg_hba.conf`).
    pub fn start_with_setup(settings: &[&str], setup: impl FnOnce(&Path)) -> Postgres {
        let postgres = Postgres::init(settings);
        setup(&postgres.data());
        postgres.start_again();
        postgres
    }

    pub fn start_with(settings: &[&str]) -> Postgres {
        Postgres::start_with_setup(settings, |_| {})
    }

    fn init(settings: &[&str]) -> Postgres {
        let bin = binaries().expect("PostgreSQL binaries (check skip() first)");
        let dir = tempfile::tempdir().unwrap();
        let as_nobody = if is_root() {
            std::os::unix::fs::chown(dir.path(), Some(id("-u")), Some(id("-g"))).unwrap();
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"].map(String::from).to_vec()
        } else {
            Vec::new()
        };
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let settings = settings.iter().map(|s| s.to_string()).collect();
        let postgres = Postgres { port, dir, bin, as_nobody, settings };
        let password_file = postgres.dir.path().join("password");
        std::fs::write(&password_file, PASSWORD).unwrap();
        if is_root() {
            std::os::unix::fs::chown(&password_file, Some(id("-u")), Some(id("-g"))).unwrap();
        }
        let data = postgres.data();
        let out = postgres
            .server_command("initdb")
            .args(["-D"])
            .arg(&data)
            .args([
                "-A",
                "scram-sha-256",
                "-U",
                USER,
                "--no-sync",
                "--pwfile",
                password_file.to_str().unwrap(),
            ])
            .output();
        check(out.expect("initdb"), "initdb");
        postgres
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = match self.as_nobody.split_first() {
            Some((setpriv, flags)) => {
                let mut command = Command::new(setpriv);
                command.args(flags).arg(path);
                command
            }
            None => Command::new(path),
        };
        command.env_remove("PGPASSWORD").env("LC_ALL", "C");
        command
    }

    /// Starts the server (again, after [`Postgres::stop`]) on the same port and data.
    pub fn start_again(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB -c max_connections=30",
            self.port,
            self.dir.path().display()
        );
        for setting in &self.settings {
            options.push_str(&format!(" -c {setting}"));
        }
        let out = self
            .server_command("pg_ctl")
            .args(["-w", "-t", "30", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &options, "start"])
            .output()
            .expect("pg_ctl start");
        check(out, "pg_ctl start");
    }

    /// Stops the server at once, as a crash or an operator would (`-m immediate`).
    pub fn stop(&self) {
        let out = self
            .server_command("pg_ctl")
            .args(["-D"])
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
        check(out.expect("pg_ctl stop"), "pg_ctl stop");
    }

    /// `postgres://iot@127.0.0.1:PORT/DB` (the password comes from `PGPASSWORD`).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database.
    pub fn create_database(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
    }

    /// Runs `sql` with psql, the independent client: rows as `a|b|c` lines, in UTC.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        check(self.psql_command(database, sql).output().expect("psql"), "psql").stdout_text()
    }

    /// The same, `None` if the query fails (a table that is not there yet).
    pub fn try_psql(&self, database: &str, sql: &str) -> Option<String> {
        let out = self.psql_command(database, sql).output().expect("psql");
        out.status.success().then(|| out.stdout_text())
    }

    fn psql_command(&self, database: &str, sql: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .env("PGTZ", "UTC");
        command
    }

    /// Windows stored in `database` so far (0 before the tables exist).
    pub fn windows(&self, database: &str) -> u64 {
        let count = self.try_psql(database, "SELECT count(*) FROM windows");
        count.and_then(|c| c.trim().parse().ok()).unwrap_or(0)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .server_command("pg_ctl")
            .args(["-D"])
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

trait Text {
    fn stdout_text(self) -> String;
}

impl Text for Output {
    fn stdout_text(self) -> String {
        String::from_utf8(self.stdout).unwrap()
    }
}

fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
