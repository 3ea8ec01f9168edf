//! `homeward serve`: the web application and HTTP API.

use crate::output::errln;
use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::db::{RegistryArgs, RegistryAt};
use super::{CliError, Outcome};
use crate::face_args::AnalysisArgs;
use crate::server::{self, AuthStore, Role, ServerConfig, MIN_PASSWORD_CHARS};

/// Serve the web pages and the JSON API (OpenAPI at /api/openapi.json).
///
/// The first admin account comes from HOMEWARD_ADMIN_USER and
/// HOMEWARD_ADMIN_PASSWORD, or from a prompt when stdin is a terminal;
/// there is no default password. Stop with Ctrl-C or SIGTERM.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Registry directory (created if missing; accounts go to DIR/auth.sqlite),
    /// or a `postgres://` URL shared with other servers and workers
    /// (accounts in the same database; give --photo-root too).
    #[arg(long, env = "HOMEWARD_DB", hide_env_values = true, value_parser = RegistryAt::parse)]
    pub db: RegistryAt,
    /// With a postgres:// registry: the photo directory every process
    /// shares.
    #[arg(long, env = "HOMEWARD_PHOTO_ROOT")]
    pub photo_root: Option<PathBuf>,
    /// Address to listen on. Put a TLS-terminating proxy in front for anything but loopback.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Send cookies without the Secure flag (only for plain-HTTP tests on loopback).
    #[arg(long)]
    pub insecure_cookies: bool,
    /// Longest time one request may take, upload included, in seconds.
    #[arg(long, default_value_t = 120)]
    pub request_timeout: u64,
    /// Requests per minute per account.
    #[arg(long, default_value_t = 300)]
    pub rate_per_minute: u32,
    /// Requests an account may make at once before the per-minute rate applies.
    #[arg(long, default_value_t = 100)]
    pub rate_burst: u32,
    /// Photo uploads (sightings, searches, case photos) per minute per account.
    #[arg(long, default_value_t = 20)]
    pub upload_per_minute: u32,
    /// Uploads an account may make at once before the per-minute rate applies.
    #[arg(long, default_value_t = 10)]
    pub upload_burst: u32,
    /// Photos analysed at the same time (others wait).
    #[arg(long, default_value_t = 2)]
    pub analysis_workers: usize,
    /// Memory all photo analyses together may use, in MiB; each is charged
    /// its estimate before it starts. Default (0): half of the machine's memory.
    #[arg(long, default_value_t = 0)]
    pub analysis_budget_mib: u64,
    /// Uploads that may wait for memory or a worker; more get 503 with Retry-After.
    #[arg(long, default_value_t = 16)]
    pub analysis_queue: usize,
    /// A reverse proxy whose X-Forwarded-For is believed (repeat for each; by
    /// default none, and the peer address is the client).
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// When a strong or possible match is queued, POST a JSON notification
    /// (ids, band and a link; never names, photos or places) to this
    /// https:// (or http://) URL; also HOMEWARD_NOTIFY_WEBHOOK. With
    /// HOMEWARD_WEBHOOK_SECRET set, each body is signed:
    /// X-Homeward-Signature: sha256=HMAC-SHA256 hex. Owed notifications are
    /// kept in the registry until delivered, across restarts.
    #[arg(long, value_name = "URL")]
    pub notify_webhook: Option<String>,
    /// Email this address too when HOMEWARD_SMTP_URL is set:
    /// smtp://user:password@host:587 (STARTTLS, required),
    /// smtps://user:password@host:465 (TLS), or smtp://relay:25?tls=none (plain,
    /// a local relay only); repeat for each recipient.
    #[arg(long = "notify-email", value_name = "ADDRESS")]
    pub notify_email: Vec<String>,
    /// A private CA's certificate (PEM) trusted for the webhook and SMTP
    /// beside the bundled Mozilla roots; also HOMEWARD_NOTIFY_CA.
    #[arg(long, value_name = "FILE")]
    pub notify_ca: Option<std::path::PathBuf>,
    /// Give up (logged) on a notification not delivered this many hours after
    /// its match was queued; retried with growing waits (up to 1 h) until then.
    #[arg(long, value_name = "HOURS", default_value_t = 72)]
    pub notify_give_up_hours: u64,
    /// Sender address of notification emails.
    #[arg(long, value_name = "ADDRESS", default_value = "homeward@localhost")]
    pub notify_from: String,
    /// The address people open the pages at (https://homeward.example.org),
    /// for links in notifications; default http:// and the listening address.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub face: AnalysisArgs,
}

/// The notification settings from the flags and the environment (secrets
/// and the SMTP URL, which holds a password, only from the environment).
fn notify_settings(args: &ServeArgs) -> Result<server::NotifySettings, CliError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let ca_pem = match args
        .notify_ca
        .clone()
        .or_else(|| env("HOMEWARD_NOTIFY_CA").map(std::path::PathBuf::from))
    {
        Some(path) => Some(std::fs::read(&path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read the notification CA file {}: {e}; give a readable PEM certificate file",
                path.display()
            ))
        })?),
        None => None,
    };
    if args.notify_give_up_hours == 0 {
        return Err(CliError::Usage(
            "--notify-give-up-hours must be at least 1".into(),
        ));
    }
    let webhook = args
        .notify_webhook
        .clone()
        .or_else(|| env("HOMEWARD_NOTIFY_WEBHOOK"))
        .map(|url| homeward_match::notify::WebhookConfig {
            extra_ca_pem: ca_pem.clone(),
            ..homeward_match::notify::WebhookConfig::new(
                url.trim(),
                env("HOMEWARD_WEBHOOK_SECRET").map(String::into_bytes),
            )
        });
    let smtp = match env("HOMEWARD_SMTP_URL") {
        Some(url) => Some(homeward_match::notify::SmtpConfig {
            url,
            from: args.notify_from.clone(),
            to: args.notify_email.clone(),
            timeout: Duration::from_secs(20),
            extra_ca_pem: ca_pem.clone(),
        }),
        None if !args.notify_email.is_empty() => {
            return Err(CliError::Usage(
                "--notify-email needs an SMTP server: set HOMEWARD_SMTP_URL=smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465"
                    .into(),
            ))
        }
        None => None,
    };
    if let Some(u) = &args.public_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(CliError::Usage(format!(
                "--public-url must start with http:// or https://, got `{u}`"
            )));
        }
    }
    Ok(server::NotifySettings {
        webhook,
        smtp,
        public_url: args.public_url.clone(),
        give_up_after: Some(Duration::from_secs(args.notify_give_up_hours * 3600)),
    })
}

fn prompt(label: &str) -> Result<String, CliError> {
    eprint!("{label}: ");
    let _ = std::io::stderr().flush();
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut s)
        .map_err(|source| CliError::Io {
            context: "reading the admin user name".into(),
            source,
        })?;
    Ok(s.trim().to_string())
}

fn prompt_password(label: &str) -> Result<String, CliError> {
    rpassword::prompt_password(format!("{label}: ")).map_err(|source| CliError::Io {
        context: "reading the admin password".into(),
        source,
    })
}

/// Makes sure an admin account exists: from the environment, else from a
/// prompt on a terminal, else refuses to start.
fn ensure_admin(auth: &AuthStore) -> Result<(), CliError> {
    let fail =
        |e: server::AuthError| CliError::Usage(format!("cannot create the admin account: {e}"));
    if auth.has_admin().map_err(fail)? {
        return Ok(());
    }
    let user = std::env::var("HOMEWARD_ADMIN_USER").ok();
    let pass = std::env::var("HOMEWARD_ADMIN_PASSWORD").ok();
    match (user, pass) {
        (Some(u), Some(p)) => {
            auth.create_user(&u, &p, Role::Admin).map_err(fail)?;
            errln!("homeward serve: created admin account `{u}` from the environment");
            Ok(())
        }
        _ if std::io::stdin().is_terminal() => {
            errln!("homeward serve: no admin account yet; create one now.");
            let u = prompt("Admin user name")?;
            let p = prompt_password(&format!(
                "Password (at least {MIN_PASSWORD_CHARS} characters)"
            ))?;
            let again = prompt_password("Same password again")?;
            if p != again {
                return Err(CliError::Usage(
                    "the two passwords differ; run again".into(),
                ));
            }
            auth.create_user(&u, &p, Role::Admin).map_err(fail)?;
            errln!("homeward serve: created admin account `{u}`");
            Ok(())
        }
        _ => Err(CliError::Usage(
            "no admin account exists and none can be created: set HOMEWARD_ADMIN_USER and \
             HOMEWARD_ADMIN_PASSWORD (at least 12 characters), or run `homeward serve` once \
             from a terminal to be prompted"
                .into(),
        )),
    }
}

/// Structured logs (key=value fields) on stderr, for refusals, timeouts,
/// throttling and admissions. Nothing logged carries image bytes or personal
/// data. `HOMEWARD_LOG=debug|info|warn|error|off` sets the level (default info).
/// The registry to serve and its accounts: a directory (created if
/// missing) with `auth.sqlite`, or a PostgreSQL database that must already
/// hold a registry (`homeward init --db postgres://…`), accounts included.
fn open(args: &ServeArgs) -> Result<(server::Served, AuthStore), CliError> {
    let auth_error = |e: server::AuthError| CliError::Usage(e.to_string());
    match &args.db {
        RegistryAt::Dir(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
                context: format!("creating {}", dir.display()),
                source,
            })?;
            let auth = AuthStore::open(dir).map_err(auth_error)?;
            Ok((server::Served::Dir(dir.clone()), auth))
        }
        RegistryAt::Postgres(url) => {
            let at = RegistryArgs {
                db: args.db.clone(),
                photo_root: args.photo_root.clone(),
            };
            let photo_root = at.photo_root()?.to_path_buf();
            if !at.exists()? {
                return Err(CliError::Usage(format!(
                    "no registry in {}; create it once with `homeward init --db <the same URL> \
                     --photo-root {}`, then serve",
                    args.db,
                    photo_root.display()
                )));
            }
            let accounts = homeward_pg::PgAccounts::connect(url)?;
            let auth = AuthStore::from_store(Box::new(accounts)).map_err(auth_error)?;
            Ok((
                server::Served::Postgres {
                    url: url.clone(),
                    photo_root,
                },
                auth,
            ))
        }
    }
}

fn init_logs() {
    use tracing_subscriber::filter::LevelFilter;
    let level = match std::env::var("HOMEWARD_LOG").as_deref() {
        Ok("off") => LevelFilter::OFF,
        Ok("error") => LevelFilter::ERROR,
        Ok("warn") => LevelFilter::WARN,
        Ok("debug") => LevelFilter::DEBUG,
        _ => LevelFilter::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_max_level(level)
        .try_init();
}

pub fn run(args: &ServeArgs) -> Result<Outcome, CliError> {
    let (registry, auth) = open(args)?;
    ensure_admin(&auth)?;
    init_logs();
    let config = ServerConfig {
        registry,
        addr: args.addr,
        secure_cookies: !args.insecure_cookies,
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        rate_per_minute: args.rate_per_minute,
        rate_burst: args.rate_burst,
        upload_per_minute: args.upload_per_minute,
        upload_burst: args.upload_burst,
        analysis_workers: args.analysis_workers,
        analysis_budget: if args.analysis_budget_mib == 0 {
            server::default_analysis_budget()
        } else {
            args.analysis_budget_mib.saturating_mul(1 << 20)
        },
        analysis_queue: args.analysis_queue,
        trusted_proxies: args.trusted_proxies.clone(),
        limits: args.face.limits(),
        face: args.face.analysis().face_options(),
        notify: notify_settings(args)?,
    };
    server::run(config, auth).map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn serve_arguments_parse_with_defaults() {
        let cli = crate::cli::Cli::try_parse_from(["homeward", "serve", "--db", "/tmp/x"]).unwrap();
        assert!(matches!(cli.command, crate::cli::Command::Serve(_)));
        let crate::cli::Command::Serve(a) = cli.command else {
            return;
        };
        assert_eq!(a.addr.to_string(), "127.0.0.1:8080");
        assert!(!a.insecure_cookies);
        assert_eq!(a.face.max_bytes, 50_000_000);
        assert_eq!(a.face.max_pixels, 50_000_000);
        assert!(crate::cli::Cli::try_parse_from(["homeward", "serve"]).is_err());
    }
}
