//! Configuration from the environment and the credentials file (`sdk.md` "SDK", `Session()`).

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::session::{Credentials, DEFAULT_ENDPOINT, DEFAULT_PROJECT_ID, SessionBuilder};

/// Environment variable: the server URL (default [`DEFAULT_ENDPOINT`]).
pub const ENV_ENDPOINT: &str = "TRAINYARD_ENDPOINT";
/// Environment variable: the project id (default [`DEFAULT_PROJECT_ID`]).
pub const ENV_PROJECT_ID: &str = "TRAINYARD_PROJECT_ID";
/// Environment variable: the access key (AK), used with [`ENV_SECRET_KEY`].
pub const ENV_ACCESS_KEY: &str = "TRAINYARD_ACCESS_KEY";
/// Environment variable: the secret key (SK), used with [`ENV_ACCESS_KEY`].
pub const ENV_SECRET_KEY: &str = "TRAINYARD_SECRET_KEY";
/// Environment variable: the user name for a password login, used with [`ENV_PASSWORD`].
pub const ENV_USERNAME: &str = "TRAINYARD_USERNAME";
/// Environment variable: the password, used with [`ENV_USERNAME`].
pub const ENV_PASSWORD: &str = "TRAINYARD_PASSWORD";
/// Environment variable: the user's domain (default: the user name).
pub const ENV_DOMAIN: &str = "TRAINYARD_DOMAIN";
/// Environment variable: the path of the credentials file (overrides the default places).
pub const ENV_CREDENTIALS_FILE: &str = "TRAINYARD_CREDENTIALS_FILE";
/// Environment variable: the server's data directory, whose `credentials.json` is looked for.
pub const ENV_DATA_DIR: &str = "TRAINYARD_DATA_DIR";
/// The credentials file's name inside a data directory.
pub const CREDENTIALS_FILE_NAME: &str = "credentials.json";
/// The data directory of a `trainyard serve` started without options, relative to the
/// current directory.
pub const DEFAULT_DATA_DIR: &str = "trainyard-data";

/// The credentials file a local `trainyard serve` writes for its default project
/// (a trainyard decision, documented in the README):
///
/// ```json
/// {"endpoint": "http://127.0.0.1:8080", "project_id": "default",
///  "access_key": "...", "secret_key": "...",
///  "username": "...", "password": "...", "domain": "..."}
/// ```
///
/// Every key is optional and may be `null`; an empty string counts as absent; unknown keys are
/// ignored. `Debug` never shows `secret_key` or `password`.
#[derive(Clone, Default)]
pub struct CredentialsFile {
    /// Server URL, e.g. `http://127.0.0.1:8080`.
    pub endpoint: Option<String>,
    /// Project id, e.g. `default`.
    pub project_id: Option<String>,
    /// Access key (AK).
    pub access_key: Option<String>,
    /// Secret key (SK).
    pub secret_key: Option<SecretString>,
    /// User name for a password login.
    pub username: Option<String>,
    /// Password for a password login.
    pub password: Option<SecretString>,
    /// The user's domain (default: the user name).
    pub domain: Option<String>,
}

impl fmt::Debug for CredentialsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<SecretString>| s.as_ref().map(|_| "[REDACTED]");
        f.debug_struct("CredentialsFile")
            .field("endpoint", &self.endpoint)
            .field("project_id", &self.project_id)
            .field("access_key", &self.access_key)
            .field("secret_key", &redacted(&self.secret_key))
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("domain", &self.domain)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawFile {
    endpoint: Option<String>,
    project_id: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
    domain: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.is_empty())
}

impl CredentialsFile {
    /// Parses the file's JSON text.
    ///
    /// Errors: [`Error::Config`] when the text is not a JSON object of optional strings (the
    /// message never quotes the file's content).
    pub fn parse(json: &str) -> Result<CredentialsFile> {
        let raw: RawFile = serde_json::from_str(json).map_err(|e| {
            Error::Config(format!(
                "the credentials file is not a JSON object of strings (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        Ok(CredentialsFile {
            endpoint: non_empty(raw.endpoint),
            project_id: non_empty(raw.project_id),
            access_key: non_empty(raw.access_key),
            secret_key: non_empty(raw.secret_key).map(SecretString::from),
            username: non_empty(raw.username),
            password: non_empty(raw.password).map(SecretString::from),
            domain: non_empty(raw.domain),
        })
    }

    /// Reads and parses the file at `path`.
    ///
    /// Errors: [`Error::Config`] naming the path when it cannot be read or parsed.
    pub fn load(path: &Path) -> Result<CredentialsFile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the credentials file {}: {e}",
                path.display()
            ))
        })?;
        CredentialsFile::parse(&text).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// The places [`Session::from_env`](crate::Session::from_env) looks for the file, in order:
    /// `$TRAINYARD_CREDENTIALS_FILE` alone when it is set; otherwise
    /// `$TRAINYARD_DATA_DIR/credentials.json` (when the variable is set), then
    /// `./trainyard-data/credentials.json`, then the per-user file [`user_credentials_path`]
    /// (`$XDG_CONFIG_HOME/trainyard/credentials.json`, else
    /// `~/.config/trainyard/credentials.json`; what `trainyard login` writes).
    pub fn search_paths() -> Vec<PathBuf> {
        search_paths(&|k| std::env::var(k).ok())
    }

    /// Finds and loads the credentials file: the first of [`CredentialsFile::search_paths`]
    /// that exists. `Ok(None)` when none exists.
    ///
    /// Errors: [`Error::Config`] when `$TRAINYARD_CREDENTIALS_FILE` names a file that cannot be
    /// read, or when the file found cannot be read or parsed.
    pub fn discover() -> Result<Option<(PathBuf, CredentialsFile)>> {
        discover(&|k| std::env::var(k).ok())
    }
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn get(env: Lookup<'_>, key: &str) -> Option<String> {
    env(key).filter(|v| !v.is_empty())
}

fn search_paths(env: Lookup<'_>) -> Vec<PathBuf> {
    if let Some(p) = get(env, ENV_CREDENTIALS_FILE) {
        return vec![PathBuf::from(p)];
    }
    let mut v = Vec::new();
    if let Some(dir) = get(env, ENV_DATA_DIR) {
        v.push(Path::new(&dir).join(CREDENTIALS_FILE_NAME));
    }
    v.push(Path::new(DEFAULT_DATA_DIR).join(CREDENTIALS_FILE_NAME));
    if let Some(p) = user_path(env) {
        v.push(p);
    }
    v
}

fn user_path(env: Lookup<'_>) -> Option<PathBuf> {
    let base = get(env, "XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| get(env, "HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("trainyard").join(CREDENTIALS_FILE_NAME))
}

/// The per-user credentials file: `$XDG_CONFIG_HOME/trainyard/credentials.json`, else
/// `$HOME/.config/trainyard/credentials.json` (the XDG base directory convention); `None`
/// when neither variable is set. `trainyard login` writes it; [`CredentialsFile::discover`]
/// reads it last.
pub fn user_credentials_path() -> Option<PathBuf> {
    user_path(&|k| std::env::var(k).ok())
}

fn discover(env: Lookup<'_>) -> Result<Option<(PathBuf, CredentialsFile)>> {
    if let Some(p) = get(env, ENV_CREDENTIALS_FILE) {
        let path = PathBuf::from(p);
        return CredentialsFile::load(&path).map(|f| Some((path, f)));
    }
    for path in search_paths(env) {
        if path.is_file() {
            return CredentialsFile::load(&path).map(|f| Some((path, f)));
        }
    }
    Ok(None)
}

pub(crate) fn builder_from_env() -> Result<SessionBuilder> {
    builder_from_lookup(&|k| std::env::var(k).ok())
}

/// The resolution of `Session::from_env`, over any variable lookup (tests pass a map).
pub(crate) fn builder_from_lookup(env: Lookup<'_>) -> Result<SessionBuilder> {
    let pair = |a: &str, b: &str| -> Result<Option<(String, String)>> {
        match (get(env, a), get(env, b)) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(Error::Config(format!("{a} is set but {b} is not"))),
            (None, Some(_)) => Err(Error::Config(format!("{b} is set but {a} is not"))),
        }
    };
    let env_keys = pair(ENV_ACCESS_KEY, ENV_SECRET_KEY)?;
    let env_login = pair(ENV_USERNAME, ENV_PASSWORD)?;
    let env_endpoint = get(env, ENV_ENDPOINT);
    let env_project = get(env, ENV_PROJECT_ID);

    let env_credentials = if let Some((ak, sk)) = env_keys {
        Some(Credentials::AccessKey {
            access_key: ak,
            secret_key: SecretString::from(sk),
        })
    } else if let Some((user, password)) = env_login {
        let domain = get(env, ENV_DOMAIN).unwrap_or_else(|| user.clone());
        Some(Credentials::Password {
            domain,
            username: user,
            password: SecretString::from(password),
        })
    } else {
        None
    };

    // The file is only read when the environment leaves something open.
    let file = if env_credentials.is_some() && env_endpoint.is_some() && env_project.is_some() {
        None
    } else {
        discover(env)?.map(|(_, f)| f)
    };
    let file = file.unwrap_or_default();

    let credentials = match env_credentials {
        Some(c) => c,
        None => file_credentials(&file, env)?,
    };
    let endpoint = env_endpoint
        .or(file.endpoint)
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let project = env_project
        .or(file.project_id)
        .unwrap_or_else(|| DEFAULT_PROJECT_ID.to_owned());
    Ok(SessionBuilder::new(endpoint)
        .project_id(project)
        .credentials(credentials))
}

fn file_credentials(file: &CredentialsFile, env: Lookup<'_>) -> Result<Credentials> {
    match (&file.access_key, &file.secret_key) {
        (Some(ak), Some(sk)) => {
            return Ok(Credentials::AccessKey {
                access_key: ak.clone(),
                secret_key: sk.clone(),
            });
        }
        (Some(_), None) => {
            return Err(Error::Config(
                "the credentials file has access_key but no secret_key".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(Error::Config(
                "the credentials file has secret_key but no access_key".into(),
            ));
        }
        (None, None) => {}
    }
    match (&file.username, &file.password) {
        (Some(user), Some(password)) => {
            let domain = file
                .domain
                .clone()
                .or_else(|| get(env, ENV_DOMAIN))
                .unwrap_or_else(|| user.clone());
            Ok(Credentials::Password {
                domain,
                username: user.clone(),
                password: password.clone(),
            })
        }
        (Some(_), None) => Err(Error::Config(
            "the credentials file has username but no password".into(),
        )),
        (None, Some(_)) => Err(Error::Config(
            "the credentials file has password but no username".into(),
        )),
        (None, None) => Ok(Credentials::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthMethod;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn parses_the_documented_shape() {
        let f = CredentialsFile::parse(
            r#"{"endpoint": "http://127.0.0.1:8080", "project_id": "default", "access_key": "AK1",
                "secret_key": "SK-SECRET", "username": "alice", "password": "pw-SECRET", "domain": "", "extra": 1}"#,
        )
        .unwrap();
        assert_eq!(f.endpoint.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(f.project_id.as_deref(), Some("default"));
        assert_eq!(f.access_key.as_deref(), Some("AK1"));
        assert!(f.secret_key.is_some() && f.password.is_some());
        assert_eq!(f.username.as_deref(), Some("alice"));
        assert_eq!(f.domain, None, "empty string counts as absent");
        let d = format!("{f:?}");
        assert!(
            !d.contains("SECRET") && d.contains("[REDACTED]") && d.contains("AK1"),
            "{d}"
        );
        let f = CredentialsFile::parse(r#"{"project_id": null}"#).unwrap();
        assert!(f.project_id.is_none() && f.access_key.is_none());
    }

    #[test]
    fn rejects_malformed_files_without_quoting_them() {
        for bad in [
            "",
            "[]",
            "{\"secret_key\": 5}",
            "{\"secret_key\": \"abc\"",
            "not json SECRET",
        ] {
            let e = CredentialsFile::parse(bad).unwrap_err();
            assert!(
                matches!(&e, Error::Config(m) if !m.contains("SECRET") && !m.contains("abc")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn environment_wins_and_defaults_apply() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        let missing = missing.to_str().unwrap();
        // Nothing anywhere: unsigned, defaults.
        let b = builder_from_lookup(&lookup(&[(ENV_CREDENTIALS_FILE, missing)])).unwrap_err();
        assert!(
            matches!(b, Error::Config(_)),
            "a named file that is missing is an error"
        );
        let s =
            builder_from_lookup(&lookup(&[(ENV_DATA_DIR, dir.path().to_str().unwrap())])).unwrap();
        let s = s.build().unwrap();
        // (./trainyard-data may exist in a developer's tree; only check when it does not)
        if !Path::new(DEFAULT_DATA_DIR)
            .join(CREDENTIALS_FILE_NAME)
            .exists()
        {
            assert_eq!(
                (s.endpoint(), s.project_id(), s.auth_method()),
                (DEFAULT_ENDPOINT, DEFAULT_PROJECT_ID, AuthMethod::None)
            );
        }
        // Environment only.
        let s = builder_from_lookup(&lookup(&[
            (ENV_ENDPOINT, "http://10.0.0.1:9"),
            (ENV_PROJECT_ID, "p1"),
            (ENV_ACCESS_KEY, "AK"),
            (ENV_SECRET_KEY, "SK"),
            (ENV_USERNAME, "ignored-when-keys-are-set"),
            (ENV_PASSWORD, "x"),
        ]))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(
            (s.endpoint(), s.project_id(), s.auth_method()),
            ("http://10.0.0.1:9", "p1", AuthMethod::AccessKey)
        );
        let b = builder_from_lookup(&lookup(&[
            (ENV_ENDPOINT, "http://h"),
            (ENV_PROJECT_ID, "p1"),
            (ENV_USERNAME, "bob"),
            (ENV_PASSWORD, "x"),
        ]))
        .unwrap();
        assert!(format!("{b:?}").contains("domain: \"bob\""));
        assert!(
            matches!(builder_from_lookup(&lookup(&[(ENV_ACCESS_KEY, "AK")])), Err(Error::Config(m)) if m.contains(ENV_SECRET_KEY))
        );
        assert!(
            matches!(builder_from_lookup(&lookup(&[(ENV_PASSWORD, "x")])), Err(Error::Config(m)) if m.contains(ENV_USERNAME))
        );
    }

    #[test]
    fn per_user_file_is_searched_last() {
        let p = search_paths(&lookup(&[("HOME", "/home/u")]));
        assert_eq!(
            p,
            vec![
                Path::new(DEFAULT_DATA_DIR).join(CREDENTIALS_FILE_NAME),
                PathBuf::from("/home/u/.config/trainyard/credentials.json")
            ]
        );
        let p = search_paths(&lookup(&[
            ("HOME", "/home/u"),
            ("XDG_CONFIG_HOME", "/cfg"),
            (ENV_DATA_DIR, "/d"),
        ]));
        assert_eq!(
            p,
            vec![
                PathBuf::from("/d/credentials.json"),
                Path::new(DEFAULT_DATA_DIR).join(CREDENTIALS_FILE_NAME),
                PathBuf::from("/cfg/trainyard/credentials.json")
            ]
        );
        // a relative XDG_CONFIG_HOME is ignored (the spec says so)
        let p = search_paths(&lookup(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "rel")]));
        assert_eq!(p[1], PathBuf::from("/h/.config/trainyard/credentials.json"));
        // an explicit file is the only place
        let p = search_paths(&lookup(&[
            ("HOME", "/h"),
            (ENV_CREDENTIALS_FILE, "/x.json"),
        ]));
        assert_eq!(p, vec![PathBuf::from("/x.json")]);
    }

    #[test]
    fn falls_back_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CREDENTIALS_FILE_NAME);
        std::fs::write(&path, r#"{"endpoint": "http://127.0.0.1:18080", "project_id": "proj-9", "access_key": "FILEAK", "secret_key": "FILESK"}"#).unwrap();
        let data_dir = dir.path().to_str().unwrap();
        let s = builder_from_lookup(&lookup(&[(ENV_DATA_DIR, data_dir)]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            (s.endpoint(), s.project_id(), s.auth_method()),
            ("http://127.0.0.1:18080", "proj-9", AuthMethod::AccessKey)
        );
        assert!(format!("{s:?}").contains("FILEAK"));
        // The environment overrides field by field.
        let s = builder_from_lookup(&lookup(&[
            (ENV_DATA_DIR, data_dir),
            (ENV_PROJECT_ID, "other"),
        ]))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(
            (s.endpoint(), s.project_id()),
            ("http://127.0.0.1:18080", "other")
        );
        // TRAINYARD_CREDENTIALS_FILE names it directly.
        let s = builder_from_lookup(&lookup(&[(ENV_CREDENTIALS_FILE, path.to_str().unwrap())]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(s.project_id(), "proj-9");
        // A password login in the file, domain defaulting to the user name.
        std::fs::write(&path, r#"{"username": "carol", "password": "pw"}"#).unwrap();
        let b = builder_from_lookup(&lookup(&[(ENV_DATA_DIR, data_dir)])).unwrap();
        assert!(format!("{b:?}").contains("domain: \"carol\""));
        // Half a pair in the file is an error.
        std::fs::write(&path, r#"{"access_key": "AK"}"#).unwrap();
        assert!(matches!(
            builder_from_lookup(&lookup(&[(ENV_DATA_DIR, data_dir)])),
            Err(Error::Config(_))
        ));
        // A malformed file names its path.
        std::fs::write(&path, "{").unwrap();
        assert!(
            matches!(builder_from_lookup(&lookup(&[(ENV_DATA_DIR, data_dir)])), Err(Error::Config(m)) if m.contains(CREDENTIALS_FILE_NAME))
        );
    }

    #[test]
    fn search_order() {
        let p = search_paths(&lookup(&[(ENV_DATA_DIR, "/srv/ty")]));
        assert_eq!(
            p,
            vec![
                PathBuf::from("/srv/ty/credentials.json"),
                PathBuf::from("trainyard-data/credentials.json")
            ]
        );
        let p = search_paths(&lookup(&[
            (ENV_DATA_DIR, "/srv/ty"),
            (ENV_CREDENTIALS_FILE, "/etc/c.json"),
        ]));
        assert_eq!(p, vec![PathBuf::from("/etc/c.json")]);
    }
}
