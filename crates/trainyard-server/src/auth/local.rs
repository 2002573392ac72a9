//! The local default account: on an empty store, `trainyard serve` on a loopback address
//! creates the project `default`, the user `admin` and an access key, and writes them to
//! `<data dir>/credentials.json` (mode 0600). On a non-loopback address it does so only with
//! `create_default_account` (`--create-default-account`): otherwise an administrator creates
//! the first account with `trainyard projects|users|keys` ([`prepare_accounts`]).

use super::AuthState;
use crate::state::{AppState, now_ms};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use trainyard_store::Store;

/// The credentials file `trainyard serve` writes for the local default account.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// What [`prepare_accounts`] found or did at start.
#[derive(Clone, Debug)]
pub enum AccountSetup {
    /// The store already has users: nothing was done.
    Existing,
    /// The store had no users and the default account was created.
    Created(LocalDefault),
    /// The store has no users and the listen address is not loopback: nothing was created;
    /// every request is 401 until an administrator creates an account.
    NeedsAdmin,
}

/// At start: on a store without users, creates the local default account when `listen` is a
/// loopback address or the configuration says `create_default_account`; else leaves the store
/// empty ([`AccountSetup::NeedsAdmin`]) so that no account with a generated secret guards a
/// network-reachable server.
pub async fn prepare_accounts(
    state: &AppState,
    listen: SocketAddr,
    endpoint: &str,
) -> anyhow::Result<AccountSetup> {
    let store = state.store.clone();
    let users = tokio::task::spawn_blocking(move || store.active_user_count()).await??;
    if users > 0 {
        return Ok(AccountSetup::Existing);
    }
    if !listen.ip().is_loopback() && !state.config.create_default_account {
        return Ok(AccountSetup::NeedsAdmin);
    }
    Ok(match ensure_local_default(state, endpoint).await? {
        Some(d) => AccountSetup::Created(d),
        None => AccountSetup::Existing,
    })
}

/// What [`ensure_local_default`] created.
#[derive(Clone, Debug)]
pub struct LocalDefault {
    /// Where the credentials were written (mode 0600).
    pub credentials_file: PathBuf,
    /// The project id.
    pub project_id: String,
    /// The user name (its domain is the same).
    pub username: String,
    /// The access key (the secret is only in the file).
    pub access_key: String,
}

/// Name of the project, user and domain of the local default account.
pub const DEFAULT_PROJECT: &str = "default";
/// User (and domain) of the local default account.
pub const DEFAULT_USER: &str = "admin";

/// Writes `contents` to `path` with mode 0600 (through a temporary file and a rename).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// On a store without users: creates the project [`DEFAULT_PROJECT`] (random 32-hex id), the
/// user [`DEFAULT_USER`] with a random password, and an access key, and writes them with
/// `endpoint` to `<data dir>/credentials.json` (mode 0600), the file the SDK reads. `None`
/// when the store already has users (nothing is touched).
pub async fn ensure_local_default(
    state: &AppState,
    endpoint: &str,
) -> anyhow::Result<Option<LocalDefault>> {
    let store = state.store.clone();
    let auth = state.auth.clone();
    let file = state.config.data_dir.join(CREDENTIALS_FILE);
    let endpoint = endpoint.to_owned();
    tokio::task::spawn_blocking(move || create_local_default(&store, &auth, &file, &endpoint))
        .await?
}

fn create_local_default(
    store: &Store,
    auth: &AuthState,
    file: &Path,
    endpoint: &str,
) -> anyhow::Result<Option<LocalDefault>> {
    if store.active_user_count()? > 0 {
        return Ok(None);
    }
    let now = now_ms();
    let project = match store.find_project(DEFAULT_PROJECT)? {
        Some(p) => p,
        None => store.add_project(None, DEFAULT_PROJECT, now)?,
    };
    let password = trainyard_store::auth::new_password();
    store.add_user(
        DEFAULT_USER,
        DEFAULT_USER,
        &password,
        std::slice::from_ref(&project.project_id),
        now,
    )?;
    let key = store.create_access_key(auth.sealer(), DEFAULT_USER, DEFAULT_USER, now)?;
    let creds = json!({
        "endpoint": endpoint,
        "project_id": project.project_id,
        "access_key": key.access_key,
        "secret_key": key.secret_key,
        "username": DEFAULT_USER,
        "password": password,
        "domain": DEFAULT_USER,
    });
    let mut text = serde_json::to_vec_pretty(&creds)?;
    text.push(b'\n');
    write_private(file, &text)?;
    Ok(Some(LocalDefault {
        credentials_file: file.to_path_buf(),
        project_id: project.project_id,
        username: DEFAULT_USER.to_owned(),
        access_key: key.access_key,
    }))
}
