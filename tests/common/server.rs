//! A `homeward serve` started on a free loopback port for one test, and
//! stopped (SIGTERM) when it is dropped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::cli::homeward;
use super::fixtures::ADMIN_PASSWORD;
use super::http;

/// The flags of a test server, each with its value: loopback on a free
/// port, cookies over plain HTTP, no upsampling (the fixtures' faces are
/// large) and rate limits out of the way.
pub const QUICK: [(&str, Option<&str>); 7] = [
    ("--addr", Some("127.0.0.1:0")),
    ("--insecure-cookies", None),
    ("--upsample", Some("0")),
    ("--rate-per-minute", Some("100000")),
    ("--rate-burst", Some("100000")),
    ("--upload-per-minute", Some("100000")),
    ("--upload-burst", Some("1000")),
];

/// `serve` and its flags: [`QUICK`], then `more`, less the flags that
/// `extra` sets itself, then `extra`.
pub fn args(more: &[(&str, Option<&str>)], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["serve".into()];
    for (flag, value) in QUICK.iter().chain(more) {
        if !extra.contains(flag) {
            args.push(flag.to_string());
            args.extend(value.map(String::from));
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A `homeward serve` to start: its command, and the registry directory
/// that goes with the server.
pub struct Serve {
    cmd: Command,
    db: Option<PathBuf>,
    log: Option<PathBuf>,
    dir: Option<tempfile::TempDir>,
}

impl Serve {
    /// `homeward ARGS --db DB` with the first admin (`admin`,
    /// [`ADMIN_PASSWORD`]) in its environment.
    pub fn on(db: &Path, args: &[String]) -> Serve {
        let mut cmd = homeward();
        cmd.args(args)
            .arg("--db")
            .arg(db)
            .env("HOMEWARD_ADMIN_USER", "admin")
            .env("HOMEWARD_ADMIN_PASSWORD", ADMIN_PASSWORD);
        Serve {
            cmd,
            db: Some(db.to_path_buf()),
            log: None,
            dir: None,
        }
    }

    /// [`Serve::on`] the registry `dir/db` (which may already hold data);
    /// the directory is removed after the server stops.
    pub fn in_dir(dir: tempfile::TempDir, args: &[String]) -> Serve {
        let mut serve = Serve::on(&dir.path().join("db"), args);
        serve.dir = Some(dir);
        serve
    }

    /// [`Serve::in_dir`] a new temporary directory.
    pub fn fresh(args: &[String]) -> Serve {
        Serve::in_dir(tempfile::tempdir().unwrap(), args)
    }

    /// A `homeward serve` command made by the caller (a registry named
    /// through the environment, say).
    pub fn command(cmd: Command) -> Serve {
        Serve {
            cmd,
            db: None,
            log: None,
            dir: None,
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Serve {
        self.cmd.env(key, value);
        self
    }

    pub fn envs(mut self, vars: &[(&str, &str)]) -> Serve {
        for (k, v) in vars {
            self.cmd.env(k, v);
        }
        self
    }

    pub fn env_remove(mut self, key: &str) -> Serve {
        self.cmd.env_remove(key);
        self
    }

    /// The server's log (stderr) written to `server.log` in its directory
    /// instead of the test's stderr; read it with [`Server::log`].
    pub fn logged(mut self) -> Serve {
        let dir = self.dir.as_ref().expect("a logged server has a directory");
        self.log = Some(dir.path().join("server.log"));
        self
    }

    /// Runs the command to its end: for a server that must refuse to start.
    pub fn run(mut self) -> Output {
        self.cmd
            .stdin(Stdio::null())
            .output()
            .expect("homeward serve runs")
    }

    /// Starts the server and waits for the line that says where it listens.
    pub fn start(self) -> Server {
        let Serve {
            mut cmd,
            db,
            log,
            dir,
        } = self;
        let stderr = match &log {
            Some(p) => Stdio::from(File::create(p).unwrap()),
            None => Stdio::inherit(),
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("homeward serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let base = line
            .trim()
            .strip_prefix("homeward serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Server {
            child,
            base,
            agent: http::agent(),
            db,
            log,
            _dir: dir,
        }
    }
}

/// A running `homeward serve`, stopped (SIGTERM) on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Answers every status as it is, and follows no redirect.
    pub agent: ureq::Agent,
    db: Option<PathBuf>,
    log: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// The registry directory it serves.
    pub fn db(&self) -> PathBuf {
        self.db.clone().expect("a server on a registry directory")
    }

    /// The server's log so far (only for [`Serve::logged`]).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Stops the server at once (SIGKILL), as a crash would.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}
