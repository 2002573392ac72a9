//! The command-line client: `trainyard jobs|specs|engines|configs|import|completions`, built on
//! the SDK (`trainyard-client`). Each subcommand prints a table (on a terminal, with colours) or,
//! with `--output json`, the API's own JSON.

pub mod complete;
pub mod import;
pub mod jobs;
pub mod login;
pub mod meta;
pub mod output;

use clap::{Args, ValueEnum};
use trainyard_client::{Session, SessionBuilder};

/// Where the server is, for every client subcommand (global flags).
///
/// Credentials always come from the environment or the credentials file of a local
/// `trainyard serve` (see `Session::from_env`); these flags only override the server URL and
/// the project.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnArgs {
    /// Server URL [default: $TRAINYARD_ENDPOINT, then the credentials file, then http://127.0.0.1:8080].
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Project id or name [default: $TRAINYARD_PROJECT_ID, then the credentials file, then `default`].
    #[arg(long, global = true, value_name = "ID")]
    pub project: Option<String>,
}

impl ConnArgs {
    /// The session: `Session::from_env()` with `--endpoint` and `--project` applied.
    ///
    /// Errors: a malformed credentials file, half a key pair, a bad endpoint or project id.
    pub fn session(&self) -> anyhow::Result<Session> {
        let mut b = SessionBuilder::from_env()?;
        if let Some(e) = &self.endpoint {
            b = b.endpoint(e.clone());
        }
        if let Some(p) = &self.project {
            b = b.project_id(p.clone());
        }
        b = b.user_agent(concat!("trainyard-cli/", env!("CARGO_PKG_VERSION")));
        Ok(b.build()?)
    }

    /// The endpoint the session will use (for messages).
    pub fn endpoint_hint(&self) -> String {
        self.session()
            .map(|s| s.endpoint().to_owned())
            .unwrap_or_else(|_| trainyard_client::DEFAULT_ENDPOINT.to_owned())
    }

    /// Which credentials the session uses and where they come from, e.g. `access key AK12 from
    /// /home/u/.config/trainyard/credentials.json`, or where it looked when it found none.
    pub fn credentials_source(&self) -> String {
        use trainyard_client::{
            CredentialsFile, ENV_ACCESS_KEY, ENV_CREDENTIALS_FILE, ENV_USERNAME,
        };
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(ak) = var(ENV_ACCESS_KEY) {
            return format!("access key {ak} from ${ENV_ACCESS_KEY}");
        }
        if let Some(u) = var(ENV_USERNAME) {
            return format!("user {u} (password login) from ${ENV_USERNAME}");
        }
        match CredentialsFile::discover() {
            Ok(Some((path, f))) => match (&f.access_key, &f.username) {
                (Some(ak), _) => format!("access key {ak} from {}", path.display()),
                (None, Some(u)) => format!("user {u} (password login) from {}", path.display()),
                (None, None) => format!("no credentials in {}", path.display()),
            },
            Ok(None) => {
                let looked: Vec<String> = CredentialsFile::search_paths()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                format!(
                    "no credentials found: looked at ${ENV_ACCESS_KEY}/$TRAINYARD_SECRET_KEY, \
                     ${ENV_USERNAME}/$TRAINYARD_PASSWORD, then {}{}; run `trainyard login` \
                     (or set ${ENV_CREDENTIALS_FILE})",
                    looked.join(", "),
                    if var(ENV_CREDENTIALS_FILE).is_some() {
                        ""
                    } else {
                        " (in this order)"
                    }
                )
            }
            Err(e) => format!("the credentials file cannot be used: {e}"),
        }
    }

    /// Adds what a person needs to fix a failed command: for a refused connection, whether a
    /// server runs at the endpoint; for an authentication failure, which credentials were used
    /// and from where (or where none were found).
    pub fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        let wants = err
            .downcast_ref::<trainyard_client::Error>()
            .is_some_and(|e| {
                matches!(
                    e,
                    trainyard_client::Error::Transport(_)
                        | trainyard_client::Error::Api {
                            http_status: 401 | 403,
                            ..
                        }
                        | trainyard_client::Error::Auth { .. }
                )
            });
        if !wants {
            return err;
        }
        self.explain_with(err, &self.endpoint_hint(), &self.credentials_source())
    }

    /// [`ConnArgs::explain`] with the endpoint and the credentials' description given.
    pub fn explain_with(&self, err: anyhow::Error, endpoint: &str, creds: &str) -> anyhow::Error {
        let Some(e) = err.downcast_ref::<trainyard_client::Error>() else {
            return err;
        };
        match e {
            trainyard_client::Error::Transport(t) if t.is_connect() => anyhow::anyhow!(
                "cannot connect to {endpoint}: is `trainyard serve` running at {endpoint}? ({e})"
            ),
            trainyard_client::Error::Api {
                http_status: 401, ..
            }
            | trainyard_client::Error::Auth { .. } => {
                anyhow::anyhow!("{e}\n  credentials used: {creds}")
            }
            trainyard_client::Error::Api {
                http_status: 403, ..
            } => anyhow::anyhow!(
                "{e}\n  project: {}; credentials used: {creds}",
                self.session()
                    .map(|s| s.project_id().to_owned())
                    .unwrap_or_default()
            ),
            _ => err,
        }
    }
}

/// An error with its own exit code (docs/cli.md "Exit codes"): `main` prints the message and
/// exits with `code`.
#[derive(Debug)]
pub struct Exit {
    /// The process exit code.
    pub code: u8,
    /// The message.
    pub message: String,
}

/// `jobs wait`: the version ended in a status other than COMPLETED.
pub const EXIT_NOT_COMPLETED: u8 = 1;
/// `jobs wait --timeout`: the time ran out before the version ended.
pub const EXIT_TIMEOUT: u8 = 3;

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// `--output table|json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A human-readable table (times in the local time zone, durations as `1h02m03s`).
    #[default]
    Table,
    /// The API's JSON (times in epoch ms, durations in ms).
    Json,
}

/// The `--output` flag, shared by the client subcommands.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputArgs {
    /// Output format: `table` (for people) or `json` (the API's own fields).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Flags of `trainyard completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  source <(trainyard completions bash)      # or: source <(COMPLETE=bash trainyard)\n  \
trainyard completions bash > /etc/bash_completion.d/trainyard\n  \
trainyard completions zsh > \"${fpath[1]}/_trainyard\"\n  \
trainyard completions fish > ~/.config/fish/completions/trainyard.fish\n\n\
The script calls trainyard back at each TAB (COMPLETE=<shell> trainyard -- <words>), so job\n\
names, engines and specs come from the server the command line points at."
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The environment variable that turns a run of `trainyard` into a completion request.
pub const COMPLETE_VAR: &str = "COMPLETE";

/// Prints the shell's registration script for dynamic completion: the same script as
/// `COMPLETE=<shell> trainyard`, calling this binary back at each TAB.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let name = args.shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let shell = shells
        .completer(&name)
        .ok_or_else(|| anyhow::anyhow!("no completion for the shell {name}"))?;
    let mut script = Vec::new();
    shell.write_registration(
        COMPLETE_VAR,
        "trainyard",
        "trainyard",
        &completer_path(),
        &mut script,
    )?;
    output::write_raw(&script);
    Ok(())
}

/// How the script calls this binary back: as it was called (`trainyard`, found on `PATH`), or
/// the absolute path when it was called by a path (`./target/release/trainyard`).
fn completer_path() -> String {
    let argv0 = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "trainyard".into());
    let path = if argv0.components().count() > 1 {
        std::env::current_dir().map_or(argv0.clone(), |d| d.join(&argv0))
    } else {
        argv0
    };
    path.to_string_lossy().into_owned()
}

/// The command the completion engine walks: `cmd` (the root command) built, without hidden
/// flags and subcommands.
pub fn completion_command(mut cmd: clap::Command) -> clap::Command {
    cmd.build();
    without_hidden(&cmd)
}

/// Flags of `trainyard man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write trainyard.1, trainyard-jobs.1, trainyard-jobs-list.1, ... into
    /// [default: print trainyard.1 on stdout].
    #[arg(value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// Writes the man pages of `cmd` (the root command): every subcommand's page into `dir`, or the
/// root page on stdout.
pub fn man(args: &ManArgs, cmd: clap::Command) -> anyhow::Result<()> {
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(cmd, dir)?;
            output::outln!("man pages written to {}", dir.display());
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            output::write_raw(&page);
        }
    }
    Ok(())
}

/// A copy of `cmd` for completion: the same names, help, values and value completers, without
/// hidden flags and subcommands (the engine would offer a hidden flag to a matching prefix).
fn without_hidden(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_owned())
        .about(cmd.get_about().cloned().unwrap_or_default())
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true);
    if let Some(v) = cmd.get_version() {
        out = out.version(v.to_owned());
    }
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        out = out.arg(a.clone().global(false));
    }
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        out = out.subcommand(without_hidden(sub));
    }
    out
}
