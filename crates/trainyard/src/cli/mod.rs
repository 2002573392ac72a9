//! The command-line client: `trainyard jobs|specs|engines|configs|import|completions`, built on
//! the SDK (`trainyard-client`). Each subcommand prints a table (on a terminal, with colours) or,
//! with `--output json`, the API's own JSON.

pub mod import;
pub mod jobs;
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
    /// Project id [default: $TRAINYARD_PROJECT_ID, then the credentials file, then `default`].
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
}

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
    after_help = "Example:\n  trainyard completions bash > /etc/bash_completion.d/trainyard\n  \
trainyard completions zsh > \"${fpath[1]}/_trainyard\"\n  \
trainyard completions fish > ~/.config/fish/completions/trainyard.fish"
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script of `cmd` (the root command) for the shell.
pub fn completions(args: &CompletionsArgs, cmd: &mut clap::Command) -> anyhow::Result<()> {
    let name = cmd.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, cmd, name, &mut script);
    output::write_raw(&script);
    Ok(())
}
