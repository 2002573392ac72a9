//! `trainyard users|keys|projects ...`: manage the accounts directly in the store (no server
//! needed; safe while one runs: every store write is one transaction).
//!
//! Secrets are shown once: a new access key's secret when it is created, a generated password
//! when the user is added. They are never listed afterwards.

use crate::cli::output::{self, Fit, table};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;
use trainyard_server::config::ServerConfig;
use trainyard_store::Store;
use trainyard_store::auth::{AuthError, Sealer};

/// Where the store is.
#[derive(Debug, Args)]
pub struct DataDirArgs {
    /// The server's data directory.
    #[arg(
        long,
        global = true,
        env = "TRAINYARD_DATA_DIR",
        default_value = "trainyard-data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// The database when it is not the data directory's SQLite file (a postgres:// URL).
    #[arg(long, global = true, env = "TRAINYARD_DATABASE", value_name = "URL")]
    database: Option<String>,
    /// The sealing key file [default: <data-dir>/auth.key].
    #[arg(
        long,
        global = true,
        env = "TRAINYARD_AUTH_KEY_FILE",
        value_name = "FILE"
    )]
    auth_key_file: Option<PathBuf>,
}

/// `trainyard users ...`.
#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(flatten)]
    dir: DataDirArgs,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add a user. Without --password-stdin a random password is generated and printed once.
    ///
    /// Example: `trainyard users add alice --projects default`
    Add {
        /// User name.
        name: String,
        /// Domain (for `POST /v3/auth/tokens`) [default: the user name].
        #[arg(long)]
        domain: Option<String>,
        /// Projects (ids or names) the user may use, comma-separated [default: the only project].
        #[arg(long, value_delimiter = ',')]
        projects: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the users and their projects.
    List,
    /// Remove a user: its access keys and tokens are revoked at once.
    ///
    /// Example: `trainyard users remove alice`
    Remove {
        /// User name.
        name: String,
        /// Domain [default: the user name].
        #[arg(long)]
        domain: Option<String>,
    },
}

/// `trainyard keys ...`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    dir: DataDirArgs,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an access key for a user; the secret key is printed this once.
    ///
    /// Example: `trainyard keys create --user alice`
    Create {
        /// Owner's name.
        #[arg(long)]
        user: String,
        /// Owner's domain [default: the user name].
        #[arg(long)]
        domain: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List access keys (never their secrets), revoked ones too.
    List {
        /// Only this user's keys.
        #[arg(long)]
        user: Option<String>,
        /// The user's domain [default: the user name].
        #[arg(long)]
        domain: Option<String>,
    },
    /// Revoke an access key at once.
    ///
    /// Example: `trainyard keys revoke QTWAOYTTINDUT2QVKYUC`
    Revoke {
        /// The access key.
        access_key: String,
    },
}

/// `trainyard projects ...`.
#[derive(Debug, Args)]
pub struct ProjectsArgs {
    #[command(flatten)]
    dir: DataDirArgs,
    #[command(subcommand)]
    command: ProjectsCommand,
}

#[derive(Debug, Subcommand)]
enum ProjectsCommand {
    /// Add a project (id: 32 random hex digits unless given).
    ///
    /// Example: `trainyard projects add research`
    Add {
        /// Unique name.
        name: String,
        /// Project id (letters, digits, '-'; at most 64).
        #[arg(long)]
        id: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the projects.
    List,
}

struct Opened {
    store: Store,
    config: ServerConfig,
}

fn open(args: &DataDirArgs) -> anyhow::Result<Opened> {
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let cfg = ServerConfig {
        data_dir: args.data_dir.clone(),
        database: args
            .database
            .clone()
            .map(trainyard_server::config::DatabaseUrl),
        auth_key_file: args.auth_key_file.clone(),
        ..ServerConfig::default()
    };
    let location = cfg.store_location().map_err(anyhow::Error::msg)?;
    // the same modes as `serve` (no lock: a running server may own the directory)
    if cfg.uses_sqlite() {
        trainyard_server::datadir::precreate_db(&cfg.db_path())?;
    }
    let store = Store::open(&location).context("opening the store")?;
    if cfg.uses_sqlite() {
        trainyard_server::datadir::secure_db_files(&cfg.db_path())?;
    }
    Ok(Opened { store, config: cfg })
}

/// The sealing key of the store, checked against it (the same key as the server's).
fn sealer(o: &Opened) -> anyhow::Result<Sealer> {
    let sealer = trainyard_server::auth::load_sealer(&o.config)?;
    o.store
        .check_sealer(&sealer)
        .map_err(|e| anyhow::anyhow!("the sealing key does not fit this store: {e}"))?;
    Ok(sealer)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

fn auth_err(e: AuthError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Runs `trainyard users ...`.
pub fn users(args: UsersArgs) -> anyhow::Result<()> {
    let o = open(&args.dir)?;
    match args.command {
        UsersCommand::Add {
            name,
            domain,
            mut projects,
            password_stdin,
            json,
        } => {
            let domain = domain.unwrap_or_else(|| name.clone());
            if projects.is_empty() {
                let all = o.store.projects().map_err(auth_err)?;
                match all.as_slice() {
                    [only] => projects.push(only.project_id.clone()),
                    [] => bail!("no project yet: add one with `trainyard projects add NAME`"),
                    _ => bail!("several projects exist: say which with --projects"),
                }
            }
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (trainyard_store::auth::new_password(), true)
            };
            let u = o
                .store
                .add_user(&name, &domain, &password, &projects, now_ms())
                .map_err(auth_err)?;
            if json {
                let mut v = serde_json::json!({
                    "username": u.name, "domain": u.domain, "projects": u.projects,
                });
                if generated {
                    v["password"] = password.clone().into();
                }
                println!("{v}");
            } else {
                println!(
                    "user {} (domain {}) added, projects: {}",
                    u.name,
                    u.domain,
                    u.projects.join(", ")
                );
                if generated {
                    println!("password: {password}");
                    eprintln!("(shown once: it is stored only as an argon2 hash)");
                }
            }
        }
        UsersCommand::List => {
            let mut t = table(&[
                ("user", Fit::wrap(12)),
                ("domain", Fit::wrap(12).drop(1)),
                ("projects", Fit::wrap(12)),
                ("created", Fit::KEEP.drop(2)),
            ]);
            for u in o.store.users().map_err(auth_err)? {
                t.add_row(vec![
                    u.name,
                    u.domain,
                    u.projects.join(", "),
                    when(u.created_at),
                ]);
            }
            output::print_table(&t);
        }
        UsersCommand::Remove { name, domain } => {
            let domain = domain.unwrap_or_else(|| name.clone());
            o.store
                .remove_user(&name, &domain, now_ms())
                .map_err(auth_err)?;
            println!(
                "user {name} (domain {domain}) removed; its access keys and tokens are revoked"
            );
        }
    }
    Ok(())
}

/// Runs `trainyard keys ...`.
pub fn keys(args: KeysArgs) -> anyhow::Result<()> {
    let o = open(&args.dir)?;
    match args.command {
        KeysCommand::Create { user, domain, json } => {
            let domain = domain.unwrap_or_else(|| user.clone());
            let k = o
                .store
                .create_access_key(&sealer(&o)?, &user, &domain, now_ms())
                .map_err(auth_err)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"access_key": k.access_key, "secret_key": k.secret_key, "username": user, "domain": domain})
                );
            } else {
                println!("access key: {}", k.access_key);
                println!("secret key: {}", k.secret_key);
                eprintln!("(the secret key is shown once; keep it safe)");
            }
        }
        KeysCommand::List { user, domain } => {
            let filter = user.as_deref().map(|u| (u, domain.as_deref().unwrap_or(u)));
            let mut t = table(&[
                ("access key", Fit::KEEP),
                ("user", Fit::wrap(12)),
                ("domain", Fit::wrap(12).drop(1)),
                ("created", Fit::KEEP.drop(2)),
                ("status", Fit::wrap(8)),
            ]);
            for k in o.store.access_keys(filter).map_err(auth_err)? {
                t.add_row(vec![
                    k.access_key,
                    k.user,
                    k.domain,
                    when(k.created_at),
                    k.revoked_at
                        .map_or_else(|| "active".to_owned(), |r| format!("revoked {}", when(r))),
                ]);
            }
            output::print_table(&t);
        }
        KeysCommand::Revoke { access_key } => {
            o.store
                .revoke_access_key(&access_key, now_ms())
                .map_err(auth_err)?;
            println!("access key {access_key} revoked");
        }
    }
    Ok(())
}

/// Runs `trainyard projects ...`.
pub fn projects(args: ProjectsArgs) -> anyhow::Result<()> {
    let o = open(&args.dir)?;
    match args.command {
        ProjectsCommand::Add { name, id, json } => {
            let p = o
                .store
                .add_project(id.as_deref(), &name, now_ms())
                .map_err(auth_err)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"project_id": p.project_id, "name": p.name})
                );
            } else {
                println!("project {} added: id {}", p.name, p.project_id);
            }
        }
        ProjectsCommand::List => {
            let mut t = table(&[
                ("project id", Fit::KEEP),
                ("name", Fit::wrap(12)),
                ("created", Fit::KEEP.drop(1)),
            ]);
            for p in o.store.projects().map_err(auth_err)? {
                t.add_row(vec![p.project_id, p.name, when(p.created_at)]);
            }
            output::print_table(&t);
        }
    }
    Ok(())
}
