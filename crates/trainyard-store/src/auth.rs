//! Users, projects, access keys and tokens (`spec/auth.md`), kept in the same database as the
//! jobs. This module holds the engine-neutral rules (names, passwords, sealing, token shape);
//! engines store and look up rows through [`AuthEngine`].
//!
//! - **Passwords** are stored as argon2id PHC strings (random salt, the crate's default cost).
//!   A login for a user that does not exist takes as long as a verification (see
//!   [`LoginCandidate::verify`]) without computing one: its password thread sleeps for the
//!   measured cost of a check, so the answer time does not tell whether the user exists, and a
//!   flood of logins with made-up user names (password spraying) costs no CPU (issue 9 §2).
//! - **Tokens** are 256 random bits (64 hex digits), handed out once; only their SHA-256 is
//!   stored. They are bound to one project, expire, and can be revoked.
//! - **Access-key secrets** must be recoverable (the server recomputes the HMAC), so they are
//!   sealed with ChaCha20-Poly1305 under a key kept *outside* the database ([`Sealer`]: a
//!   0600 key file, by default `auth.key` in the data directory, or the file the server's
//!   `auth_key_file` names, which every replica sharing a database must be given); the access
//!   key is the AEAD's associated data, so a sealed secret cannot be moved to another key's
//!   row. A copy of the database alone reveals no secret. The store keeps a check value of
//!   the key ([`Store::check_sealer`]) so a server started with the wrong key is refused at
//!   start instead of failing every signature.
//! - Removing a user revokes its keys and tokens in the same transaction; revoking a key
//!   takes effect on the next request (there is no cache).
//!
//! Every call is blocking, like the rest of the store.

use crate::{Store, StoreError};
use argon2::{Argon2, PasswordHasher};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// A sealed secret could not be opened, or the key's check value stored in the database
    /// differs: the key file does not belong to this database.
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

/// Step 1 of a password login ([`Store::login_candidate`]): the user's password hash (a
/// dummy hash when the user does not exist) and the project the token would be scoped to, if
/// the user may use it. Its `Debug` does not show the hash.
pub struct LoginCandidate {
    user: Option<(i64, String, String)>,
    /// The stored hash; `None` for an unknown user (the dummy hash is checked instead).
    phc: Option<String>,
    project: Option<ProjectRecord>,
}

impl fmt::Debug for LoginCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginCandidate")
            .field("user", &self.user)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl LoginCandidate {
    /// Step 2: checks `password` against the stored argon2id hash (CPU-bound: about 19 MiB
    /// and tens of milliseconds; run it off the async workers, on a thread that may block).
    /// `Some` only for an existing user with this password. For an unknown user it computes
    /// nothing and sleeps for [`check_cost`] instead (the average of this process's recent
    /// checks), so the answer takes as long as a wrong password would.
    pub fn verify(self, password: &str) -> Option<VerifiedLogin> {
        let ok = match &self.phc {
            Some(phc) => {
                let t = Instant::now();
                let ok = password_matches(password, phc);
                record_check_cost(t.elapsed());
                ok
            }
            None => {
                std::thread::sleep(check_cost());
                false
            }
        };
        match (ok, self.user) {
            (true, Some(user)) => Some(VerifiedLogin {
                user,
                project: self.project,
            }),
            _ => None,
        }
    }
}

/// A login whose password was verified ([`LoginCandidate::verify`]); step 3 is
/// [`Store::issue_token`].
#[derive(Clone, Debug)]
pub struct VerifiedLogin {
    user: (i64, String, String),
    project: Option<ProjectRecord>,
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

thread_local! {
    /// The argon2 working memory of this thread (19 MiB with the default cost), allocated at
    /// its first password check and reused: a thread that checks passwords holds exactly one
    /// block array, instead of allocating and freeing 19 MiB per check (which the C allocator
    /// keeps around, up to three times over per thread: issue 9 §2).
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Checks `password` against an argon2 PHC string (what `Argon2::verify_password` does, with
/// this thread's reused working memory); the comparison of the outputs is constant-time.
fn password_matches(password: &str, phc: &str) -> bool {
    use argon2::password_hash::phc::Output;
    let Ok(hash) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        argon2::Params::try_from(&hash),
        argon2::Algorithm::try_from(hash.algorithm.as_str()),
    ) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.as_bytes().len()) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let hashed = ARGON2_MEMORY.with_borrow_mut(|memory| {
        if memory.len() != blocks {
            *memory = vec![argon2::Block::default(); blocks];
        }
        argon.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
    });
    hashed.is_ok() && Output::new(out).is_ok_and(|computed| &computed == expected)
}

/// The running average of this process's password checks, µs (0: none measured yet).
static CHECK_COST_US: AtomicU64 = AtomicU64::new(0);

/// Adds one measured check to [`CHECK_COST_US`] (each new check weighs 1/8).
fn record_check_cost(d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let _ = CHECK_COST_US.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some(if old == 0 { us } else { old - old / 8 + us / 8 })
    });
}

/// How long a password check takes here: the running average of the real checks, measured at
/// the first call on a check of a throwaway hash of the default cost when none ran yet (that
/// one check is the only argon2 work an unknown user's login ever causes).
pub fn check_cost() -> Duration {
    static CALIBRATED: OnceLock<()> = OnceLock::new();
    CALIBRATED.get_or_init(|| {
        if let Ok(phc) = hash_password(&new_password()) {
            let t = Instant::now();
            let _ = password_matches("", &phc);
            record_check_cost(t.elapsed());
        }
    });
    Duration::from_micros(CHECK_COST_US.load(Ordering::Relaxed))
}

/// Associated data of the key check value (see [`Store::check_sealer`]).
const KEY_CHECK_AAD: &str = "trainyard sealing key check";

/// What an access-key insert found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyInsert {
    /// Stored.
    Inserted,
    /// The access key is already taken (draw another).
    Taken,
    /// No active user of that name and domain.
    NoUser,
}

/// A stored access key with its owner, for verifying a signature.
#[derive(Clone, Debug)]
pub struct SealedKey {
    /// `nonce || ChaCha20-Poly1305(secret)`, associated data = the access key.
    pub sealed: Vec<u8>,
    /// The owner, with every project of the user.
    pub identity: Identity,
}

/// A stored token (found by its SHA-256) with its owner.
#[derive(Clone, Debug)]
pub struct TokenRow {
    /// The owner; `projects` is the token's one project.
    pub identity: Identity,
    /// Expiry, epoch ms.
    pub expires_at: i64,
}

/// The rows of accounts as an engine stores them: no rules here, only atomic reads and writes
/// (each method one transaction). The rules are in [`Store`]'s methods of this module.
pub trait AuthEngine: Send + Sync {
    /// Inserts a project. `false` when its id or name is taken.
    fn insert_project(&self, p: &ProjectRecord) -> Result<bool, StoreError>;
    /// Every project, by name.
    fn projects(&self) -> Result<Vec<ProjectRecord>, StoreError>;
    /// A project by id or by name.
    fn project(&self, r: ProjectRef<'_>) -> Result<Option<ProjectRecord>, StoreError>;
    /// Inserts a user with its projects (ids that exist). `None` when an active user of that
    /// name exists in the domain; else the new user id.
    fn insert_user(
        &self,
        name: &str,
        domain: &str,
        password_hash: &str,
        project_ids: &[String],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// The projects an active user may use, by id (empty for an unknown or removed user).
    fn projects_of_user(&self, user_id: i64) -> Result<Vec<ProjectRecord>, StoreError>;
    /// Active users (with their project ids, sorted), by domain and name.
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Number of active users.
    fn active_user_count(&self) -> Result<u64, StoreError>;
    /// An active user's id, password hash and project ids.
    fn active_user(
        &self,
        name: &str,
        domain: &str,
    ) -> Result<Option<(i64, String, Vec<String>)>, StoreError>;
    /// Marks an active user removed and revokes its keys and tokens, in one transaction.
    /// `false` when there is no such active user.
    fn remove_user(&self, name: &str, domain: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Stores an access key for an active user.
    fn insert_access_key(
        &self,
        access_key: &str,
        sealed: &[u8],
        user: &str,
        domain: &str,
        now_ms: i64,
    ) -> Result<KeyInsert, StoreError>;
    /// Access keys (revoked too), of one active user or of all, oldest first.
    fn access_keys(&self, user: Option<(&str, &str)>) -> Result<Vec<AccessKeyRecord>, StoreError>;
    /// Revokes an active access key; `false` when unknown or already revoked.
    fn revoke_access_key(&self, access_key: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// An active access key of an active user.
    fn sealed_key(&self, access_key: &str) -> Result<Option<SealedKey>, StoreError>;
    /// Stores a token's SHA-256, deleting tokens that expired before `purge_before`.
    fn insert_token(
        &self,
        token_sha256: &str,
        user_id: i64,
        project_id: &str,
        issued_at: i64,
        expires_at: i64,
        purge_before: i64,
    ) -> Result<(), StoreError>;
    /// An unrevoked token of an active user, by SHA-256.
    fn token(&self, token_sha256: &str) -> Result<Option<TokenRow>, StoreError>;
    /// Revokes a token; `false` when it was not active.
    fn revoke_token(&self, token_sha256: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// The stored key check value, if any.
    fn key_check(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores the key check value unless one is stored; returns the one stored now.
    fn set_key_check(&self, value: &[u8]) -> Result<Vec<u8>, StoreError>;
}

impl Store {
    fn accounts(&self) -> &dyn AuthEngine {
        self.engine.auth()
    }

    /// Checks that `sealer` is the key this database's secrets are sealed with: the first
    /// server to start records a check value (sealed with the key); later starts, on any
    /// replica, must open it. Errors: `Unseal` when the key differs.
    pub fn check_sealer(&self, sealer: &Sealer) -> AuthResult<()> {
        let stored = match self.accounts().key_check()? {
            Some(v) => v,
            None => self
                .accounts()
                .set_key_check(&sealer.seal(KEY_CHECK_AAD, b"trainyard")?)?,
        };
        sealer.open(KEY_CHECK_AAD, &stored).map(|_| ())
    }

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
        let rec = ProjectRecord {
            project_id: id,
            name: name.to_owned(),
            created_at: now_ms,
        };
        if !self.accounts().insert_project(&rec)? {
            return Err(AuthError::Exists(format!(
                "project {name:?} (or id {})",
                rec.project_id
            )));
        }
        Ok(rec)
    }

    /// Every project, by name.
    pub fn projects(&self) -> AuthResult<Vec<ProjectRecord>> {
        Ok(self.accounts().projects()?)
    }

    /// A project by id, else by name.
    pub fn find_project(&self, id_or_name: &str) -> AuthResult<Option<ProjectRecord>> {
        if let Some(p) = self.accounts().project(ProjectRef::Id(id_or_name))? {
            return Ok(Some(p));
        }
        Ok(self.accounts().project(ProjectRef::Name(id_or_name))?)
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
        let Some(user_id) = self
            .accounts()
            .insert_user(name, domain, &hash, &ids, now_ms)?
        else {
            return Err(AuthError::Exists(format!(
                "user {name:?} in domain {domain:?}"
            )));
        };
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
        Ok(self.accounts().users()?)
    }

    /// Users that have not been removed.
    pub fn active_user_count(&self) -> AuthResult<u64> {
        Ok(self.accounts().active_user_count()?)
    }

    /// Removes a user: it can no longer log in, and its access keys and tokens are revoked,
    /// all in one transaction. Errors: `Missing`.
    pub fn remove_user(&self, name: &str, domain: &str, now_ms: i64) -> AuthResult<()> {
        if !self.accounts().remove_user(name, domain, now_ms)? {
            return Err(AuthError::Missing(format!(
                "user {name:?} in domain {domain:?}"
            )));
        }
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
        loop {
            let access_key = random_string(ACCESS_KEY_LEN, UPPER_DIGITS);
            let secret_key = random_string(SECRET_KEY_LEN, ALNUM);
            let sealed = sealer.seal(&access_key, secret_key.as_bytes())?;
            match self
                .accounts()
                .insert_access_key(&access_key, &sealed, user, domain, now_ms)?
            {
                KeyInsert::Inserted => {
                    return Ok(NewAccessKey {
                        access_key,
                        secret_key,
                    });
                }
                KeyInsert::Taken => continue,
                KeyInsert::NoUser => {
                    return Err(AuthError::Missing(format!(
                        "user {user:?} in domain {domain:?}"
                    )));
                }
            }
        }
    }

    /// Access keys (revoked ones too), of one user or of all, oldest first.
    pub fn access_keys(&self, user: Option<(&str, &str)>) -> AuthResult<Vec<AccessKeyRecord>> {
        Ok(self.accounts().access_keys(user)?)
    }

    /// Revokes an access key at once. Errors: `Missing` (unknown or already revoked).
    pub fn revoke_access_key(&self, access_key: &str, now_ms: i64) -> AuthResult<()> {
        if !self.accounts().revoke_access_key(access_key, now_ms)? {
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
        let Some(row) = self.accounts().sealed_key(access_key)? else {
            return Ok(None);
        };
        let secret = sealer.open(access_key, &row.sealed)?;
        Ok(Some(KeySecret {
            identity: row.identity,
            secret,
        }))
    }

    /// Checks a password login and issues a token scoped to `project`, valid `ttl_ms`.
    /// `None` for every refusal alike (unknown user or domain, wrong password, unknown
    /// project, or a project the user may not use); the time taken does not depend on which.
    /// The three steps, for callers that run the password check elsewhere (the server runs it
    /// on its own bounded threads): [`Store::login_candidate`], [`LoginCandidate::verify`],
    /// [`Store::issue_token`].
    pub fn login(
        &self,
        user: &str,
        domain: &str,
        password: &str,
        project: ProjectRef<'_>,
        now_ms: i64,
        ttl_ms: i64,
    ) -> AuthResult<Option<IssuedToken>> {
        let candidate = self.login_candidate(user, domain, project)?;
        match candidate.verify(password) {
            Some(verified) => self.issue_token(&verified, now_ms, ttl_ms),
            None => Ok(None),
        }
    }

    /// Step 1 of a login: the stored facts it is checked against (a short read; no password
    /// hashing). An unknown user or domain gives a candidate with a dummy hash, so that
    /// [`LoginCandidate::verify`] costs the same either way.
    pub fn login_candidate(
        &self,
        user: &str,
        domain: &str,
        project: ProjectRef<'_>,
    ) -> AuthResult<LoginCandidate> {
        let Some((user_id, hash, projects)) = self.accounts().active_user(user, domain)? else {
            return Ok(LoginCandidate {
                user: None,
                phc: None,
                project: None,
            });
        };
        let project = match (project, projects.first()) {
            (ProjectRef::FirstOfUser, Some(first)) => {
                self.accounts().project(ProjectRef::Id(first))?
            }
            (ProjectRef::FirstOfUser, None) => None,
            (project, _) => self.accounts().project(project)?,
        };
        Ok(LoginCandidate {
            user: Some((user_id, user.to_owned(), domain.to_owned())),
            phc: Some(hash),
            project: project.filter(|p| projects.contains(&p.project_id)),
        })
    }

    /// Step 3 of a login: issues a token for a verified login, valid `ttl_ms`. `None` when the
    /// project does not exist or the user may not use it.
    pub fn issue_token(
        &self,
        login: &VerifiedLogin,
        now_ms: i64,
        ttl_ms: i64,
    ) -> AuthResult<Option<IssuedToken>> {
        let Some(project) = login.project.clone() else {
            return Ok(None);
        };
        let (user_id, user, domain) = login.user.clone();
        let mut raw = [0u8; TOKEN_BYTES];
        rand::fill(&mut raw[..]);
        let token = hex::encode(raw);
        let expires_at = now_ms.saturating_add(ttl_ms.max(0));
        self.accounts().insert_token(
            &token_sha256(&token),
            user_id,
            &project.project_id,
            now_ms,
            expires_at,
            now_ms.saturating_sub(TOKEN_PURGE_AFTER_MS),
        )?;
        Ok(Some(IssuedToken {
            token,
            issued_at: now_ms,
            expires_at,
            identity: Identity {
                user_id,
                user,
                domain,
                projects: vec![project.project_id.clone()],
            },
            project,
        }))
    }

    /// The projects a user may use (active user; empty otherwise), by id.
    pub fn projects_of_user(&self, user_id: i64) -> AuthResult<Vec<ProjectRecord>> {
        Ok(self.accounts().projects_of_user(user_id)?)
    }

    /// Checks a token (`X-Auth-Token`) at `now_ms`.
    pub fn check_token(&self, token: &str, now_ms: i64) -> AuthResult<TokenCheck> {
        if !is_token_shaped(token) {
            return Ok(TokenCheck::Invalid);
        }
        Ok(match self.accounts().token(&token_sha256(token))? {
            None => TokenCheck::Invalid,
            Some(t) if now_ms >= t.expires_at => TokenCheck::Expired,
            Some(t) => TokenCheck::Valid(t.identity),
        })
    }

    /// Revokes a token. Returns whether it was active.
    pub fn revoke_token(&self, token: &str, now_ms: i64) -> AuthResult<bool> {
        Ok(self.accounts().revoke_token(&token_sha256(token), now_ms)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU time of the calling thread.
    fn thread_cpu() -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    /// An unknown user's login takes as long as a check but computes none (regression: it
    /// verified a dummy hash, so a spray of made-up user names kept a password thread busy).
    #[test]
    fn an_unknown_users_check_takes_the_time_of_one_but_no_cpu() {
        let cost = check_cost();
        assert!(cost > Duration::ZERO);
        let unknown = LoginCandidate {
            user: None,
            phc: None,
            project: None,
        };
        let (wall, cpu) = (Instant::now(), thread_cpu());
        assert!(unknown.verify("guess").is_none());
        let (wall, cpu) = (wall.elapsed(), thread_cpu() - cpu);
        assert!(wall >= cost, "{wall:?} < {cost:?}");
        assert!(
            cpu < cost / 4,
            "{cpu:?} of CPU for a check costing {cost:?}"
        );
        // a real check (wrong password) does use the CPU, and counts in the average
        let known = LoginCandidate {
            user: Some((1, "u".into(), "d".into())),
            phc: Some(hash_password("right").unwrap()),
            project: None,
        };
        let cpu = thread_cpu();
        assert!(known.verify("wrong").is_none());
        assert!(thread_cpu() - cpu >= cost / 8);
    }

    #[test]
    fn password_check_agrees_with_argon2_and_reuses_its_memory() {
        use argon2::PasswordVerifier;
        let phc = hash_password("correct horse").unwrap();
        for (pw, want) in [
            ("correct horse", true),
            ("correct hors", false),
            ("", false),
        ] {
            assert_eq!(password_matches(pw, &phc), want, "{pw:?}");
            assert_eq!(
                Argon2::default()
                    .verify_password(pw.as_bytes(), phc.as_str())
                    .is_ok(),
                want
            );
        }
        // Other parameters (a smaller cost) resize the thread's memory, and back.
        let small = argon2::Params::new(64, 1, 1, None).unwrap();
        let other = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, small)
            .hash_password(b"pw-small-cost")
            .unwrap()
            .to_string();
        assert!(password_matches("pw-small-cost", &other));
        assert!(!password_matches("pw-small-cos", &other));
        assert_eq!(ARGON2_MEMORY.with_borrow(Vec::len), 64);
        assert!(password_matches("correct horse", &phc));
        assert_eq!(
            ARGON2_MEMORY.with_borrow(Vec::len),
            argon2::Params::default().block_count()
        );
        for bad in [
            "",
            "$argon2id$",
            "not a hash",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA",
        ] {
            assert!(!password_matches("x", bad), "{bad}");
        }
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
