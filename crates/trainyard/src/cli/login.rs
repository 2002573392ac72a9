//! `trainyard login`: checks credentials against the server and saves them in the per-user file
//! (`$XDG_CONFIG_HOME/trainyard/credentials.json`, else `~/.config/trainyard/credentials.json`,
//! mode 0600), which the CLI and the SDK read from any directory.

use std::io::{BufRead, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde_json::{Map, Value};
use trainyard_client::{CredentialsFile, Estimator, SessionBuilder, user_credentials_path};

use super::ConnArgs;
use super::output::outln;

/// Flags of `trainyard login`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
trainyard login                                   # the credentials found here (./trainyard-data, ...)\n  \
trainyard login --data-dir /srv/trainyard-data    # a local server's credentials.json\n  \
echo \"$PW\" | trainyard login --endpoint http://gpu-box:8080 --username alice --project research --password-stdin\n\n\
The credentials are checked against the server first, then written to\n\
$XDG_CONFIG_HOME/trainyard/credentials.json (else ~/.config/trainyard/credentials.json), mode 0600.")]
pub struct LoginArgs {
    /// Copy the credentials file of the server whose data directory this is.
    #[arg(long, value_name = "DIR", conflicts_with = "username")]
    data_dir: Option<PathBuf>,
    /// User name, for a password login (the password from --password-stdin or $TRAINYARD_PASSWORD).
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
    /// The user's domain [default: the user name].
    #[arg(long, value_name = "DOMAIN", requires = "username")]
    domain: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Write here instead of the per-user file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

fn read_json(path: &Path) -> anyhow::Result<Map<String, Value>> {
    // parse with the SDK's rules first (a clear message for a malformed file)
    CredentialsFile::load(path)?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match serde_json::from_str(&text)? {
        Value::Object(m) => Ok(m),
        _ => bail!("{} is not a JSON object", path.display()),
    }
}

/// Runs `trainyard login`.
pub async fn run(conn: &ConnArgs, args: LoginArgs) -> anyhow::Result<()> {
    let target = match args.file.clone().or_else(user_credentials_path) {
        Some(p) => p,
        None => bail!("neither $XDG_CONFIG_HOME nor $HOME is set: give --file FILE"),
    };
    let mut creds: Map<String, Value> = if let Some(user) = &args.username {
        let password = if args.password_stdin {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        } else {
            std::env::var(trainyard_client::ENV_PASSWORD).map_err(|_| {
                anyhow!("give the password on standard input (--password-stdin) or in $TRAINYARD_PASSWORD")
            })?
        };
        if password.is_empty() {
            bail!("the password is empty");
        }
        let mut m = Map::new();
        m.insert("username".into(), Value::String(user.clone()));
        m.insert("password".into(), Value::String(password));
        m.insert(
            "domain".into(),
            Value::String(args.domain.clone().unwrap_or_else(|| user.clone())),
        );
        m
    } else {
        let source = match &args.data_dir {
            Some(d) => d.join(trainyard_client::CREDENTIALS_FILE_NAME),
            None => match CredentialsFile::discover()? {
                Some((p, _)) if p != target => p,
                _ => bail!(
                    "no credentials to save: run it where `trainyard serve` wrote trainyard-data/, \
                     or give --data-dir DIR, or --username NAME"
                ),
            },
        };
        read_json(&source)?
    };
    if let Some(e) = &conn.endpoint {
        creds.insert("endpoint".into(), Value::String(e.clone()));
    }
    if let Some(p) = &conn.project {
        creds.insert("project_id".into(), Value::String(p.clone()));
    }
    creds
        .entry("endpoint")
        .or_insert_with(|| Value::String(trainyard_client::DEFAULT_ENDPOINT.into()));
    let text = serde_json::to_string_pretty(&Value::Object(creds.clone()))? + "\n";
    let file = CredentialsFile::parse(&text)?;
    // check them against the server before saving
    let session = session_from(&creds)?;
    Estimator::specs(&session).await.map_err(|e| {
        conn.explain_with(
            e.into(),
            session.endpoint(),
            &format!("{} (to be saved)", describe(&file)),
        )
    })?;
    write_private(&target, text.as_bytes())?;
    outln!(
        "saved {} for {} (project {}) to {}",
        describe(&file),
        session.endpoint(),
        session.project_id(),
        target.display()
    );
    Ok(())
}

fn describe(f: &CredentialsFile) -> String {
    match (&f.access_key, &f.username) {
        (Some(ak), _) => format!("access key {ak}"),
        (None, Some(u)) => format!("user {u}"),
        (None, None) => "no credentials".into(),
    }
}

/// A session from the credentials alone (the environment is not consulted).
fn session_from(c: &Map<String, Value>) -> anyhow::Result<trainyard_client::Session> {
    let get = |k: &str| c.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    let mut b = SessionBuilder::new(get("endpoint").unwrap_or_default())
        .user_agent(concat!("trainyard-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(p) = get("project_id") {
        b = b.project_id(p);
    }
    let b = match (get("access_key"), get("username")) {
        (Some(ak), _) => b.access_key(
            ak,
            get("secret_key").ok_or_else(|| anyhow!("access_key without secret_key"))?,
        ),
        (None, Some(u)) => b.password(
            get("domain").unwrap_or(u),
            u,
            get("password").ok_or_else(|| anyhow!("username without password"))?,
        ),
        (None, None) => bail!("the credentials hold neither an access key nor a user name"),
    };
    Ok(b.build()?)
}

/// Writes `bytes` to `path` with mode 0600 (its directory created with 0700).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
