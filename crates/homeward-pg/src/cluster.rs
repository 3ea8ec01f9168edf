//! A throwaway PostgreSQL cluster for tests (feature `test-cluster`):
//! `initdb` into a temporary directory, `pg_ctl start` on a free loopback
//! port, one database per test, and `pg_ctl stop` when the last user drops
//! it.
//!
//! `initdb` refuses to run as root, so as root the cluster runs as `nobody`
//! (`runuser`), in a directory handed to it. The binaries are looked up on
//! `PATH`, then in `/usr/lib/postgresql/<version>/bin`; `HOMEWARD_PG_BIN`
//! names their directory explicitly.
//!
//! Without them, [`Cluster::shared_or_skip`] says why on the terminal and
//! returns `None`, so a test passes as skipped; with `HOMEWARD_REQUIRE_PG=1`
//! (as in CI) it panics instead.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};

/// The superuser of the throwaway cluster.
pub const SUPERUSER: &str = "homeward";

/// Why a cluster could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The PostgreSQL server binaries are not installed.
    #[error(
        "PostgreSQL's initdb and pg_ctl were not found (in HOMEWARD_PG_BIN if set, else on PATH \
         and in /usr/lib/postgresql/*/bin); install the `postgresql` package or set \
         HOMEWARD_PG_BIN to their directory"
    )]
    NotInstalled,
    /// A step failed.
    #[error("throwaway PostgreSQL cluster: {step} failed: {detail}")]
    Step {
        /// What was being done.
        step: &'static str,
        /// What it printed or why.
        detail: String,
    },
}

fn step(step: &'static str, detail: impl ToString) -> ClusterError {
    ClusterError::Step {
        step,
        detail: detail.to_string(),
    }
}

/// A running throwaway cluster; stopped and deleted on drop.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    password: String,
    run_as: Option<(u32, u32)>,
}

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
static SKIP_NOTICE: Once = Once::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// The directory holding `initdb` and `pg_ctl`, if any.
pub fn find_bin() -> Option<PathBuf> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(d) = std::env::var_os("HOMEWARD_PG_BIN") {
        let d = PathBuf::from(d);
        return has(&d).then_some(d);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has(&d) {
                return Some(d);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| has(d))
        .collect();
    versions.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

/// Whether `HOMEWARD_REQUIRE_PG=1`: a missing PostgreSQL is then a failure.
pub fn required() -> bool {
    std::env::var("HOMEWARD_REQUIRE_PG").is_ok_and(|v| v == "1")
}

fn id_of(flag: &str, user: &str) -> Result<u32, ClusterError> {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .map_err(|e| step("looking up user nobody", e))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| step("looking up user nobody", "`id` gave no number"))
}

fn free_port() -> Result<u16, ClusterError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| step("finding a free port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| step("finding a free port", e))
}

fn random_word() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("pw{:016x}", h.finish())
}

impl Cluster {
    /// The cluster shared by the tests of this process, started on first
    /// use and stopped when the last test holding it drops it. `None` when
    /// PostgreSQL is not installed and not required (the reason is printed
    /// once, past the test harness's capture); panics when it is required
    /// or when an installed PostgreSQL fails to start.
    pub fn shared_or_skip(test: &str) -> Option<Arc<Cluster>> {
        let mut slot = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = slot.upgrade() {
            return Some(c);
        }
        match Cluster::start() {
            Ok(c) => {
                let c = Arc::new(c);
                *slot = Arc::downgrade(&c);
                Some(c)
            }
            Err(ClusterError::NotInstalled) if !required() => {
                SKIP_NOTICE.call_once(|| {
                    // Written to the stream itself: the harness captures println!.
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIPPED PostgreSQL store tests (first: {test}): {}. \
                         Set HOMEWARD_REQUIRE_PG=1 to make this a failure.",
                        ClusterError::NotInstalled
                    );
                });
                None
            }
            Err(e) => panic!(
                "{e}{}",
                if required() {
                    " (HOMEWARD_REQUIRE_PG=1)"
                } else {
                    ""
                }
            ),
        }
    }

    /// Starts a new cluster (see the module docs).
    pub fn start() -> Result<Cluster, ClusterError> {
        let bin = find_bin().ok_or(ClusterError::NotInstalled)?;
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let run_as = if root {
            Some((id_of("-u", "nobody")?, id_of("-g", "nobody")?))
        } else {
            None
        };
        let dir = std::env::temp_dir().join(format!(
            "homeward-pg-{}-{}",
            std::process::id(),
            random_word()
        ));
        std::fs::create_dir(&dir).map_err(|e| step("creating the cluster directory", e))?;
        let mut cluster = Cluster {
            bin,
            dir,
            port: 0,
            password: random_word(),
            run_as,
        };
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid))
                .map_err(|e| step("handing the cluster directory to nobody", e))?;
        }
        let pwfile = cluster.dir.join("pwfile");
        std::fs::write(&pwfile, format!("{}\n", cluster.password))
            .map_err(|e| step("writing the password file", e))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))
                .map_err(|e| step("handing the password file to nobody", e))?;
        }
        let data = cluster.dir.join("data");
        let out = cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "--pwfile".as_ref(),
                pwfile.as_os_str(),
                "--auth-local=trust".as_ref(),
                "--auth-host=scram-sha-256".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--no-sync".as_ref(),
                "--no-instructions".as_ref(),
            ],
        )?;
        check(out, "initdb")?;
        // A port found free may be taken before the server binds it: retry.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                cluster.dir.display()
            );
            let log = cluster.dir.join("server.log");
            let out = cluster.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-o".as_ref(),
                    opts.as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "start".as_ref(),
                ],
            )?;
            if out.status.success() {
                cluster.port = port;
                return Ok(cluster);
            }
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Err(step("pg_ctl start", last))
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<Output, ClusterError> {
        let exe = self.bin.join(tool);
        let mut cmd = match self.run_as {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "nobody", "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| {
                step(
                    "running PostgreSQL's tools",
                    format!("{}: {e}", exe.display()),
                )
            })
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password (random per cluster).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A URL for `database` as the superuser, with the password.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Creates a new, empty database and returns its name.
    pub fn create_database(&self) -> Result<String, ClusterError> {
        let name = format!(
            "hw_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| step("connecting to the maintenance database", e))?;
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| step("CREATE DATABASE", e))?;
        Ok(name)
    }

    /// Drops a database, closing its connections.
    pub fn drop_database(&self, name: &str) -> Result<(), ClusterError> {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| step("connecting to the maintenance database", e))?;
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .map_err(|e| step("DROP DATABASE", e))
    }

    /// Runs SQL on a database as the superuser (test set-up and inspection).
    pub fn client(&self, database: &str) -> Result<postgres::Client, ClusterError> {
        postgres::Client::connect(&self.url(database), postgres::NoTls)
            .map_err(|e| step("connecting", e))
    }
}

fn check(out: Output, what: &'static str) -> Result<(), ClusterError> {
    if out.status.success() {
        Ok(())
    } else {
        Err(step(
            what,
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.dir.join("data");
            let _ = self.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-m".as_ref(),
                    "immediate".as_ref(),
                    "-w".as_ref(),
                    "stop".as_ref(),
                ],
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A database of a shared cluster for one test: dropped, then the cluster
/// released, when this goes out of scope.
#[derive(Debug)]
pub struct TestDb {
    cluster: Arc<Cluster>,
    name: String,
}

impl TestDb {
    /// A fresh database on the shared cluster, or `None` when PostgreSQL is
    /// missing and not required (see [`Cluster::shared_or_skip`]).
    pub fn new_or_skip(test: &str) -> Option<TestDb> {
        let cluster = Cluster::shared_or_skip(test)?;
        let name = cluster.create_database().unwrap_or_else(|e| panic!("{e}"));
        Some(TestDb { cluster, name })
    }

    /// The database's URL (with the cluster's password).
    pub fn url(&self) -> String {
        self.cluster.url(&self.name)
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cluster.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = self.cluster.drop_database(&self.name);
    }
}
