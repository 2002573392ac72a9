//! Users, projects, access keys and tokens (`spec/auth.md`), kept in the same SQLite file as
//! the jobs (migration 2 of `schema.rs`).
//!
//! - **Passwords** are stored as argon2id PHC strings (random salt, the crate's default cost).
//!   A login for a user that does not exist still runs one argon2 verification (against a
//!   dummy hash), so the answer time does not tell whether the user exists.
//! - **Tokens** are 256 random bits (64 hex digits), handed out once; only their SHA-256 is
//!   stored. They are bound to one project, expire, and can be revoked.
//! - **Access-key secrets** must be recoverable (the server recomputes the HMAC), so they are
//!   sealed with ChaCha20-Poly1305 under a key kept *outside* the database, in a 0600 key
//!   file in the data directory ([`Sealer`]); the access key is the AEAD's associated data, so
//!   a sealed secret cannot be moved to another key's row. A copy of the database alone
//!   reveals no secret.
//! - Removing a user revokes its keys and tokens in the same transaction; revoking a key
//!   takes effect on the next request (there is no cache).
//!
//! Every call is blocking, like the rest of the store.

use crate::{Store, StoreError};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

/// Bytes of randomness in a token (256 bits).
pub const TOKEN_BYTES: usize = 32;
/// Characters of an access key (`[A-Z0-9]`, like Huawei Cloud's AKs).
pub const ACCESS_KEY_LEN: usize = 20;
/// Characters of a secret key (`[A-Za-z0-9]`, about 238 bits).
pub const SECRET_KEY_LEN: usize = 40;
/// Shortest password accepted by [`Store::add_user`].
pub const MIN_PASSWORD_LEN: usize = 8;
/// Expired tokens are deleted this long after their expiry (epoch ms), when a token is issued.
const TOKEN_PURGE_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;

/// Errors of the user, project and key management.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A name, id or password that breaks the rules (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// The user, project or key already exists.
    #[error("{0} already exists")]
    Exists(String),
    /// The user, project or key does not exist (or was removed / revoked).
    #[error("{0} does not exist")]
    Missing(String),
    /// A sealed secret could not be opened: the key file does not belong to this database.
    #[error(
        "an access-key secret could not be decrypted: the key file does not match the database"
    )]
    Unseal,
    /// Password hashing failed.
    #[error("password hashing failed")]
    Hash,
    /// The key file could not be read or written.
    #[error("key file: {0}")]
    KeyFile(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AuthError {
    fn from(e: rusqlite::Error) -> Self {
        AuthError::Store(StoreError::Sqlite(e))
    }
}

/// Result alias of this module.
pub type AuthResult<T> = Result<T, AuthError>;

/// Seals and opens access-key secrets (ChaCha20-Poly1305, 256-bit key, random 96-bit nonce).
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer with this key (tests).
    pub fn from_key(key: [u8; 32]) -> Sealer {
        Sealer {
            cipher: ChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Reads the key file (64 hex digits), creating it with a random key and mode 0600 when
    /// it does not exist.
    pub fn load_or_create(path: &Path) -> AuthResult<Sealer> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(path) {
            Ok(mut f) => {
                let mut key = [0u8; 32];
                rand::fill(&mut key[..]);
                f.write_all(format!("{}\n", hex::encode(key)).as_bytes())?;
                f.sync_all()?;
                Ok(Sealer::from_key(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path)?;
                let mut key = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut key).map_err(|_| {
                    AuthError::Invalid("the key file must hold 64 hex digits".into())
                })?;
                Ok(Sealer::from_key(key))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn seal(&self, aad: &str, secret: &[u8]) -> AuthResult<Vec<u8>> {
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce[..]);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| AuthError::Unseal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, aad: &str, blob: &[u8]) -> AuthResult<Vec<u8>> {
        if blob.len() < 12 {
            return Err(AuthError::Unseal);
        }
        let (nonce, sealed) = blob.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| AuthError::Unseal)
    }
}

/// A project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRecord {
    /// The id used in paths (`/v1/{project_id}/...`).
    pub project_id: String,
    /// Its unique name (token scopes may name it).
    pub name: String,
    /// Creation time, epoch ms.
    pub created_at: i64,
}

/// A user (not removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// Internal id.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Domain (Keystone's; defaults to the name).
    pub domain: String,
    /// Ids of the projects the user may use, sorted.
    pub projects: Vec<String>,
    /// Creation time, epoch ms.
    pub created_at: i64,
}

/// An access key as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKeyRecord {
    /// The access key (AK).
    pub access_key: String,
    /// Owner's name.
    pub user: String,
    /// Owner's domain.
    pub domain: String,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Revocation time, epoch ms (also set when the owner was removed).
    pub revoked_at: Option<i64>,
}

/// A new access key with its secret: the only time the secret leaves the store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAccessKey {
    /// The access key (AK).
    pub access_key: String,
    /// The secret key (SK).
    pub secret_key: String,
}

impl fmt::Debug for NewAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAccessKey")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Who a credential belongs to and which projects it may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Internal user id.
    pub user_id: i64,
    /// User name.
    pub user: String,
    /// User domain.
    pub domain: String,
    /// Project ids this credential may use (a token: its one project).
    pub projects: Vec<String>,
}

/// An access key's owner and secret, for verifying a signature.
#[derive(Clone)]
pub struct KeySecret {
    /// The owner (projects: all of the user's).
    pub identity: Identity,
    /// The secret key bytes.
    pub secret: Vec<u8>,
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySecret")
            .field("identity", &self.identity)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// How a token login names its project (`scope.project.id` or `.name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectRef<'a> {
    /// By id.
    Id(&'a str),
    /// By name.
    Name(&'a str),
    /// The user's first project (by id): a login that names none (the web console's sign-in).
    FirstOfUser,
}

/// A token just issued (the token itself is not stored).
#[derive(Clone)]
pub struct IssuedToken {
    /// The token (64 hex digits).
    pub token: String,
    /// Issue time, epoch ms.
    pub issued_at: i64,
    /// Expiry, epoch ms.
    pub expires_at: i64,
    /// The user (projects: the token's one project).
    pub identity: Identity,
    /// The token's project.
    pub project: ProjectRecord,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("identity", &self.identity)
            .field("project", &self.project)
            .finish()
    }
}

/// The outcome of checking a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// Valid: the user and the token's project.
    Valid(Identity),
    /// It existed but has expired (401 `ModelArts.0202`).
    Expired,
    /// Unknown, malformed, revoked, or its user was removed (401 `ModelArts.0203`).
    Invalid,
}

/// True for a token's shape (64 lowercase hex digits), checked before any lookup.
pub fn is_token_shaped(token: &str) -> bool {
    token.len() == 2 * TOKEN_BYTES
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    // Rejection sampling: only bytes below the largest multiple of the alphabet size.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rand::fill(&mut buf[..]);
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

/// A new random project id: 32 lowercase hex digits (128 bits).
pub fn new_project_id() -> String {
    let mut b = [0u8; 16];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

/// A random password for generated accounts: 24 characters of `[A-Za-z0-9]`.
pub fn new_password() -> String {
    random_string(24, ALNUM)
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn check_name(what: &str, s: &str) -> AuthResult<()> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
    {
        return Err(AuthError::Invalid(format!(
            "{what} must be 1-64 characters of letters, digits, '-', '_', '.' and '@'"
        )));
    }
    Ok(())
}

fn check_project_id(s: &str) -> AuthResult<()> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(AuthError::Invalid(
            "project id must be 1-64 characters of letters, digits and '-'".into(),
        ));
    }
    Ok(())
}

fn hash_password(password: &str) -> AuthResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| AuthError::Hash)
}

fn password_matches(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A valid hash of a password nobody knows, verified when the user does not exist.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&new_password()).unwrap_or_default())
}

fn project_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectRecord> {
    Ok(ProjectRecord {
        project_id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
    })
}

fn user_projects(conn: &rusqlite::Connection, user_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT project_id FROM user_projects WHERE user_id = ?1 ORDER BY project_id",
    )?;
    stmt.query_map([user_id], |r| r.get(0))?.collect()
}

fn find_project(
    conn: &rusqlite::Connection,
    r: ProjectRef<'_>,
) -> rusqlite::Result<Option<ProjectRecord>> {
    let (sql, key) = match r {
        ProjectRef::FirstOfUser => return Ok(None),
        ProjectRef::Id(id) => (
            "SELECT project_id, name, created_at FROM projects WHERE project_id = ?1",
            id,
        ),
        ProjectRef::Name(n) => (
            "SELECT project_id, name, created_at FROM projects WHERE name = ?1",
            n,
        ),
    };
    conn.query_row(sql, [key], project_from_row).optional()
}

fn active_user(
    conn: &rusqlite::Connection,
    name: &str,
    domain: &str,
) -> rusqlite::Result<Option<(i64, String, i64)>> {
    conn.query_row(
        "SELECT user_id, password_hash, created_at FROM users
         WHERE name = ?1 AND domain = ?2 AND removed_at IS NULL",
        [name, domain],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

impl Store {
    /// Creates a project. `id` defaults to a random 32-hex-digit id. Errors: `Invalid` (id or
    /// name), `Exists` (id or name taken).
    pub fn add_project(
        &self,
        id: Option<&str>,
        name: &str,
        now_ms: i64,
    ) -> AuthResult<ProjectRecord> {
        check_name("project name", name)?;
        let id = match id {
            Some(id) => {
                check_project_id(id)?;
                id.to_owned()
            }
            None => new_project_id(),
        };
        let conn = self.writer.lock();
        let taken: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM projects WHERE project_id = ?1 OR name = ?2)",
            [&id, name],
            |r| r.get(0),
        )?;
        if taken {
            return Err(AuthError::Exists(format!("project {name:?} (or id {id})")));
        }
        conn.execute(
            "INSERT INTO projects (project_id, name, created_at) VALUES (?1, ?2, ?3)",
            params![id, name, now_ms],
        )?;
        Ok(ProjectRecord {
            project_id: id,
            name: name.to_owned(),
            created_at: now_ms,
        })
    }

    /// Every project, by name.
    pub fn projects(&self) -> AuthResult<Vec<ProjectRecord>> {
        let conn = self.reader.lock();
        let mut stmt =
            conn.prepare_cached("SELECT project_id, name, created_at FROM projects ORDER BY name")?;
        let rows = stmt
            .query_map([], project_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// A project by id, else by name.
    pub fn find_project(&self, id_or_name: &str) -> AuthResult<Option<ProjectRecord>> {
        let conn = self.reader.lock();
        if let Some(p) = find_project(&conn, ProjectRef::Id(id_or_name))? {
            return Ok(Some(p));
        }
        Ok(find_project(&conn, ProjectRef::Name(id_or_name))?)
    }

    /// Creates a user with access to `projects` (ids or names; at least one). Errors:
    /// `Invalid` (name, domain, password shorter than [`MIN_PASSWORD_LEN`], no project),
    /// `Missing` (a project), `Exists` (same name in the domain).
    pub fn add_user(
        &self,
        name: &str,
        domain: &str,
        password: &str,
        projects: &[String],
        now_ms: i64,
    ) -> AuthResult<UserRecord> {
        check_name("user name", name)?;
        check_name("domain", domain)?;
        if password.chars().count() < MIN_PASSWORD_LEN || password.len() > 1024 {
            return Err(AuthError::Invalid(format!(
                "the password must be {MIN_PASSWORD_LEN}-1024 characters"
            )));
        }
        if projects.is_empty() {
            return Err(AuthError::Invalid(
                "a user needs at least one project".into(),
            ));
        }
        let mut ids = Vec::new();
        for p in projects {
            match self.find_project(p)? {
                Some(rec) => ids.push(rec.project_id),
                None => return Err(AuthError::Missing(format!("project {p:?}"))),
            }
        }
        ids.sort();
        ids.dedup();
        let hash = hash_password(password)?;
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if active_user(&tx, name, domain)?.is_some() {
            return Err(AuthError::Exists(format!(
                "user {name:?} in domain {domain:?}"
            )));
        }
        tx.execute(
            "INSERT INTO users (name, domain, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, domain, hash, now_ms],
        )?;
        let user_id = tx.last_insert_rowid();
        for id in &ids {
            tx.execute(
                "INSERT INTO user_projects (user_id, project_id) VALUES (?1, ?2)",
                params![user_id, id],
            )?;
        }
        tx.commit()?;
        Ok(UserRecord {
            user_id,
            name: name.to_owned(),
            domain: domain.to_owned(),
            projects: ids,
            created_at: now_ms,
        })
    }

    /// Users that have not been removed, by domain and name.
    pub fn users(&self) -> AuthResult<Vec<UserRecord>> {
        let conn = self.reader.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT user_id, name, domain, created_at FROM users WHERE removed_at IS NULL
             ORDER BY domain, name",
        )?;
        let mut users = stmt
            .query_map([], |r| {
                Ok(UserRecord {
                    user_id: r.get(0)?,
                    name: r.get(1)?,
                    domain: r.get(2)?,
                    projects: Vec::new(),
                    created_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        for u in &mut users {
            u.projects = user_projects(&conn, u.user_id)?;
        }
        Ok(users)
    }

    /// Users that have not been removed.
    pub fn active_user_count(&self) -> AuthResult<u64> {
        let n: i64 = self.reader.lock().query_row(
            "SELECT COUNT(*) FROM users WHERE removed_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Removes a user: it can no longer log in, and its access keys and tokens are revoked,
    /// all in one transaction. Errors: `Missing`.
    pub fn remove_user(&self, name: &str, domain: &str, now_ms: i64) -> AuthResult<()> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some((user_id, _, _)) = active_user(&tx, name, domain)? else {
            return Err(AuthError::Missing(format!(
                "user {name:?} in domain {domain:?}"
            )));
        };
        tx.execute(
            "UPDATE users SET removed_at = ?2 WHERE user_id = ?1",
            params![user_id, now_ms],
        )?;
        tx.execute(
            "UPDATE access_keys SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            params![user_id, now_ms],
        )?;
        tx.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            params![user_id, now_ms],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Creates an access key for a user; the secret is returned this once. Errors: `Missing`.
    pub fn create_access_key(
        &self,
        sealer: &Sealer,
        user: &str,
        domain: &str,
        now_ms: i64,
    ) -> AuthResult<NewAccessKey> {
        let conn = self.writer.lock();
        let Some((user_id, _, _)) = active_user(&conn, user, domain)? else {
            return Err(AuthError::Missing(format!(
                "user {user:?} in domain {domain:?}"
            )));
        };
        loop {
            let access_key = random_string(ACCESS_KEY_LEN, UPPER_DIGITS);
            let secret_key = random_string(SECRET_KEY_LEN, ALNUM);
            let sealed = sealer.seal(&access_key, secret_key.as_bytes())?;
            let n = conn.execute(
                "INSERT OR IGNORE INTO access_keys (access_key, secret_sealed, user_id, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![access_key, sealed, user_id, now_ms],
            )?;
            if n == 1 {
                return Ok(NewAccessKey {
                    access_key,
                    secret_key,
                });
            }
        }
    }

    /// Access keys (revoked ones too), of one user or of all, oldest first.
    pub fn access_keys(&self, user: Option<(&str, &str)>) -> AuthResult<Vec<AccessKeyRecord>> {
        let conn = self.reader.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT k.access_key, u.name, u.domain, k.created_at, k.revoked_at
             FROM access_keys k JOIN users u ON u.user_id = k.user_id
             WHERE (?1 IS NULL OR (u.name = ?1 AND u.domain = ?2 AND u.removed_at IS NULL))
             ORDER BY k.created_at, k.access_key",
        )?;
        let (n, d) = match user {
            Some((n, d)) => (Some(n), Some(d)),
            None => (None, None),
        };
        let rows = stmt
            .query_map(params![n, d], |r| {
                Ok(AccessKeyRecord {
                    access_key: r.get(0)?,
                    user: r.get(1)?,
                    domain: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Revokes an access key at once. Errors: `Missing` (unknown or already revoked).
    pub fn revoke_access_key(&self, access_key: &str, now_ms: i64) -> AuthResult<()> {
        let n = self.writer.lock().execute(
            "UPDATE access_keys SET revoked_at = ?2 WHERE access_key = ?1 AND revoked_at IS NULL",
            params![access_key, now_ms],
        )?;
        if n == 0 {
            return Err(AuthError::Missing(format!(
                "active access key {access_key:?}"
            )));
        }
        Ok(())
    }

    /// The secret and owner of an active access key (`None`: unknown, revoked, or owner
    /// removed). Errors: `Unseal` when the key file does not match.
    pub fn access_key_secret(
        &self,
        sealer: &Sealer,
        access_key: &str,
    ) -> AuthResult<Option<KeySecret>> {
        let conn = self.reader.lock();
        let row: Option<(Vec<u8>, i64, String, String)> = conn
            .prepare_cached(
                "SELECT k.secret_sealed, u.user_id, u.name, u.domain
                 FROM access_keys k JOIN users u ON u.user_id = k.user_id
                 WHERE k.access_key = ?1 AND k.revoked_at IS NULL AND u.removed_at IS NULL",
            )?
            .query_row([access_key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((sealed, user_id, user, domain)) = row else {
            return Ok(None);
        };
        let projects = user_projects(&conn, user_id)?;
        drop(conn);
        let secret = sealer.open(access_key, &sealed)?;
        Ok(Some(KeySecret {
            identity: Identity {
                user_id,
                user,
                domain,
                projects,
            },
            secret,
        }))
    }

    /// Checks a password login and issues a token scoped to `project`, valid `ttl_ms`.
    /// `None` for every refusal alike (unknown user or domain, wrong password, unknown
    /// project, or a project the user may not use); the time taken does not depend on which.
    pub fn login(
        &self,
        user: &str,
        domain: &str,
        password: &str,
        project: ProjectRef<'_>,
        now_ms: i64,
        ttl_ms: i64,
    ) -> AuthResult<Option<IssuedToken>> {
        let found = {
            let conn = self.reader.lock();
            match active_user(&conn, user, domain)? {
                Some((user_id, hash, _)) => {
                    let projects = user_projects(&conn, user_id)?;
                    let project = match (project, projects.first()) {
                        (ProjectRef::FirstOfUser, Some(first)) => {
                            find_project(&conn, ProjectRef::Id(first))?
                        }
                        (project, _) => find_project(&conn, project)?,
                    };
                    Some((user_id, hash, projects, project))
                }
                None => None,
            }
        };
        let Some((user_id, hash, projects, project)) = found else {
            let _ = password_matches(password, dummy_hash());
            return Ok(None);
        };
        if !password_matches(password, &hash) {
            return Ok(None);
        }
        let Some(project) = project.filter(|p| projects.contains(&p.project_id)) else {
            return Ok(None);
        };
        let mut raw = [0u8; TOKEN_BYTES];
        rand::fill(&mut raw[..]);
        let token = hex::encode(raw);
        let expires_at = now_ms.saturating_add(ttl_ms.max(0));
        {
            let conn = self.writer.lock();
            conn.execute(
                "DELETE FROM tokens WHERE expires_at < ?1",
                [now_ms.saturating_sub(TOKEN_PURGE_AFTER_MS)],
            )?;
            conn.execute(
                "INSERT INTO tokens (token_sha256, user_id, project_id, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    token_sha256(&token),
                    user_id,
                    project.project_id,
                    now_ms,
                    expires_at
                ],
            )?;
        }
        Ok(Some(IssuedToken {
            token,
            issued_at: now_ms,
            expires_at,
            identity: Identity {
                user_id,
                user: user.to_owned(),
                domain: domain.to_owned(),
                projects: vec![project.project_id.clone()],
            },
            project,
        }))
    }

    /// The projects a user may use (active user; empty otherwise), by id.
    pub fn projects_of_user(&self, user_id: i64) -> AuthResult<Vec<ProjectRecord>> {
        let conn = self.reader.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT p.project_id, p.name, p.created_at
             FROM user_projects up
             JOIN projects p ON p.project_id = up.project_id
             JOIN users u ON u.user_id = up.user_id
             WHERE up.user_id = ?1 AND u.removed_at IS NULL
             ORDER BY p.project_id",
        )?;
        let rows = stmt
            .query_map([user_id], project_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Checks a token (`X-Auth-Token`) at `now_ms`.
    pub fn check_token(&self, token: &str, now_ms: i64) -> AuthResult<TokenCheck> {
        if !is_token_shaped(token) {
            return Ok(TokenCheck::Invalid);
        }
        let conn = self.reader.lock();
        let row: Option<(i64, String, String, String, i64)> = conn
            .prepare_cached(
                "SELECT u.user_id, u.name, u.domain, t.project_id, t.expires_at
                 FROM tokens t JOIN users u ON u.user_id = t.user_id
                 WHERE t.token_sha256 = ?1 AND t.revoked_at IS NULL AND u.removed_at IS NULL",
            )?
            .query_row([token_sha256(token)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        Ok(match row {
            None => TokenCheck::Invalid,
            Some((_, _, _, _, expires_at)) if now_ms >= expires_at => TokenCheck::Expired,
            Some((user_id, user, domain, project, _)) => TokenCheck::Valid(Identity {
                user_id,
                user,
                domain,
                projects: vec![project],
            }),
        })
    }

    /// Revokes a token. Returns whether it was active.
    pub fn revoke_token(&self, token: &str, now_ms: i64) -> AuthResult<bool> {
        let n = self.writer.lock().execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE token_sha256 = ?1 AND revoked_at IS NULL",
            params![token_sha256(token), now_ms],
        )?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store, Sealer) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let sealer = Sealer::load_or_create(&dir.path().join("auth.key")).unwrap();
        (dir, store, sealer)
    }

    #[test]
    fn users_keys_tokens_and_revocation() {
        let (_d, s, sealer) = store();
        let p = s.add_project(None, "default", 1).unwrap();
        assert_eq!(p.project_id.len(), 32);
        let q = s.add_project(Some("other-1"), "other", 1).unwrap();
        assert!(matches!(
            s.add_project(None, "default", 1),
            Err(AuthError::Exists(_))
        ));
        let u = s
            .add_user("alice", "alice", "correct horse", &["default".into()], 2)
            .unwrap();
        assert_eq!(u.projects, vec![p.project_id.clone()]);
        assert!(matches!(
            s.add_user("alice", "alice", "correct horse", &["default".into()], 2),
            Err(AuthError::Exists(_))
        ));
        assert!(matches!(
            s.add_user("bob", "bob", "short", &["default".into()], 2),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(s.active_user_count().unwrap(), 1);

        let k = s.create_access_key(&sealer, "alice", "alice", 3).unwrap();
        assert_eq!(k.access_key.len(), ACCESS_KEY_LEN);
        assert_eq!(k.secret_key.len(), SECRET_KEY_LEN);
        assert!(!format!("{k:?}").contains(&k.secret_key));
        let got = s
            .access_key_secret(&sealer, &k.access_key)
            .unwrap()
            .unwrap();
        assert_eq!(got.secret, k.secret_key.as_bytes());
        assert_eq!(got.identity.projects, vec![p.project_id.clone()]);
        // A different key file cannot open it.
        let other = Sealer::from_key([7; 32]);
        assert!(matches!(
            s.access_key_secret(&other, &k.access_key),
            Err(AuthError::Unseal)
        ));
        // The secret is not stored in clear.
        let raw: Vec<u8> = s
            .reader
            .lock()
            .query_row("SELECT secret_sealed FROM access_keys", [], |r| r.get(0))
            .unwrap();
        assert!(
            !raw.windows(SECRET_KEY_LEN)
                .any(|w| w == k.secret_key.as_bytes())
        );

        // Login: wrong password, wrong domain, project not allowed, all None.
        let ttl = 1000;
        assert!(
            s.login(
                "alice",
                "alice",
                "wrong pass",
                ProjectRef::Name("default"),
                10,
                ttl
            )
            .unwrap()
            .is_none()
        );
        assert!(
            s.login(
                "alice",
                "bob",
                "correct horse",
                ProjectRef::Name("default"),
                10,
                ttl
            )
            .unwrap()
            .is_none()
        );
        assert!(
            s.login(
                "alice",
                "alice",
                "correct horse",
                ProjectRef::Id(&q.project_id),
                10,
                ttl
            )
            .unwrap()
            .is_none()
        );
        assert!(
            s.login(
                "nobody",
                "nobody",
                "correct horse",
                ProjectRef::Name("default"),
                10,
                ttl
            )
            .unwrap()
            .is_none()
        );
        let t = s
            .login(
                "alice",
                "alice",
                "correct horse",
                ProjectRef::Id(&p.project_id),
                10,
                ttl,
            )
            .unwrap()
            .unwrap();
        assert!(is_token_shaped(&t.token));
        assert_eq!(t.expires_at, 1010);
        let stored: String = s
            .reader
            .lock()
            .query_row("SELECT token_sha256 FROM tokens", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, t.token);
        assert!(
            matches!(s.check_token(&t.token, 1009).unwrap(), TokenCheck::Valid(ref i) if i.projects == vec![p.project_id.clone()])
        );
        assert_eq!(s.check_token(&t.token, 1010).unwrap(), TokenCheck::Expired);
        assert_eq!(s.check_token("abc", 10).unwrap(), TokenCheck::Invalid);
        assert_eq!(
            s.check_token(&"0".repeat(64), 10).unwrap(),
            TokenCheck::Invalid
        );

        // Revoking one key stops it; removing the user revokes the rest.
        let k2 = s.create_access_key(&sealer, "alice", "alice", 4).unwrap();
        s.revoke_access_key(&k.access_key, 5).unwrap();
        assert!(
            s.access_key_secret(&sealer, &k.access_key)
                .unwrap()
                .is_none()
        );
        assert!(
            s.access_key_secret(&sealer, &k2.access_key)
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            s.revoke_access_key(&k.access_key, 5),
            Err(AuthError::Missing(_))
        ));
        s.remove_user("alice", "alice", 6).unwrap();
        assert!(
            s.access_key_secret(&sealer, &k2.access_key)
                .unwrap()
                .is_none()
        );
        assert_eq!(s.check_token(&t.token, 20).unwrap(), TokenCheck::Invalid);
        let keys = s.access_keys(None).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|k| k.revoked_at.is_some()));
        assert_eq!(s.active_user_count().unwrap(), 0);
        // The name can be used again.
        s.add_user(
            "alice",
            "alice",
            "another pass",
            std::slice::from_ref(&q.project_id),
            7,
        )
        .unwrap();
    }

    #[test]
    fn first_project_login_and_projects_of_user() {
        let (_d, s, _) = store();
        let a = s.add_project(Some("b-proj"), "beta", 1).unwrap();
        let b = s.add_project(Some("a-proj"), "alpha", 1).unwrap();
        let c = s.add_project(Some("c-proj"), "gamma", 1).unwrap();
        let u = s
            .add_user(
                "carol",
                "carol",
                "correct horse",
                &["beta".into(), "alpha".into()],
                2,
            )
            .unwrap();
        // the user's projects with their names, by id; not the project she may not use
        let mine = s.projects_of_user(u.user_id).unwrap();
        assert_eq!(mine, vec![b.clone(), a.clone()]);
        assert!(!mine.contains(&c));
        // a login naming no project is scoped to the first of them (by id)
        let t = s
            .login(
                "carol",
                "carol",
                "correct horse",
                ProjectRef::FirstOfUser,
                10,
                1000,
            )
            .unwrap()
            .unwrap();
        assert_eq!(t.project, b);
        assert_eq!(t.identity.projects, vec!["a-proj".to_owned()]);
        // ...and refused alike with a wrong password or an unknown user
        for (user, pw) in [("carol", "wrong horse"), ("dave", "correct horse")] {
            assert!(
                s.login(user, user, pw, ProjectRef::FirstOfUser, 10, 1000)
                    .unwrap()
                    .is_none()
            );
        }
        // a removed user has no projects
        s.remove_user("carol", "carol", 20).unwrap();
        assert!(s.projects_of_user(u.user_id).unwrap().is_empty());
        assert!(s.projects_of_user(9999).unwrap().is_empty());
    }

    #[test]
    fn key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.key");
        let a = Sealer::load_or_create(&path).unwrap();
        let sealed = a.seal("AK", b"secret").unwrap();
        let b = Sealer::load_or_create(&path).unwrap();
        assert_eq!(b.open("AK", &sealed).unwrap(), b"secret");
        assert!(matches!(b.open("AK2", &sealed), Err(AuthError::Unseal)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
