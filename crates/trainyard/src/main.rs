//! `trainyard`: the server (`trainyard serve`) and the command-line client in one binary.

mod admin;
mod bench;
mod cli;
mod migrate;
mod serve;
mod traces;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// trainyard: a self-hosted training-job service speaking the ModelArts v1 API.
#[derive(Debug, Parser)]
#[command(name = "trainyard", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    conn: cli::ConnArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (embedded SQLite store and local executor in a data directory).
    ///
    /// Example: `trainyard serve --listen 127.0.0.1:8080 --data-dir ./trainyard-data`
    Serve(Box<serve::ServeArgs>),
    /// Users of the data directory's store: add, list, remove.
    ///
    /// Example: `trainyard users add alice --projects default`
    Users(admin::UsersArgs),
    /// Access keys (AK/SK) of the data directory's store: create (secret shown once), list, revoke.
    ///
    /// Example: `trainyard keys create --user alice`
    Keys(admin::KeysArgs),
    /// Projects of the data directory's store: add, list.
    ///
    /// Example: `trainyard projects add research`
    Projects(admin::ProjectsArgs),
    /// Copy a one-machine store (a data directory) into an empty PostgreSQL database, and check
    /// the copy.
    ///
    /// Example: `trainyard migrate --from ./trainyard-data --to postgres://trainyard@db/trainyard`
    Migrate(migrate::MigrateArgs),
    /// Benchmarks: synthetic job history (`bench gen`) and the job-list benchmark (`bench list`).
    ///
    /// Example: `trainyard bench list --jobs 1000000`
    Bench(bench::BenchArgs),
    /// Training jobs: list, create, show, versions, stop, delete, describe, logs, wait.
    ///
    /// Example: `trainyard jobs list --status RUNNING --output json`
    Jobs(cli::jobs::JobsArgs),
    /// The resource specs jobs may use.
    ///
    /// Example: `trainyard specs`
    Specs(cli::meta::MetaArgs),
    /// The engines jobs may use.
    ///
    /// Example: `trainyard engines --output json`
    Engines(cli::meta::MetaArgs),
    /// Named training-job configs.
    ///
    /// Example: `trainyard configs list`
    Configs(cli::meta::ConfigsArgs),
    /// Import job history from NDJSON or CSV (or a public cluster trace with --trace).
    ///
    /// Example: `trainyard import history.ndjson`
    Import(cli::import::ImportArgs),
    /// Check credentials against the server and save them for use from any directory.
    ///
    /// Example: `trainyard login --data-dir ./trainyard-data`
    Login(cli::login::LoginArgs),
    /// Write the man pages (trainyard.1 and one per subcommand), generated from the CLI
    /// definition; without DIR, print trainyard.1.
    ///
    /// Example: `trainyard man /usr/local/share/man/man1`
    Man(cli::ManArgs),
    /// Print a shell completion script (dynamic: job names, engines and specs from the server).
    ///
    /// Example: `source <(trainyard completions bash)`
    Completions(cli::CompletionsArgs),
}

/// Runs blocking work (the store's synchronous calls) off the async runtime's threads.
async fn blocking(f: impl FnOnce() -> anyhow::Result<()> + Send + 'static) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r)
}

/// Subcommands that work on the data directory, not through a server: the client flags
/// (`--endpoint`, `--project`) mean nothing there and are hidden from their help.
const LOCAL_COMMANDS: [&str; 6] = ["serve", "users", "keys", "projects", "bench", "migrate"];

/// The CLI definition, with the client flags hidden from the local commands' help.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // building propagates the global flags into the subcommands, where they can be hidden
    cmd.build();
    for sub in cmd.get_subcommands_mut() {
        if LOCAL_COMMANDS.contains(&sub.get_name()) {
            let taken = std::mem::take(sub);
            *sub = taken.mut_args(|a| match a.get_id().as_str() {
                "endpoint" | "project" => a.hide(true),
                _ => a,
            });
        }
    }
    cmd
}

fn main() -> ExitCode {
    // Before any thread starts: `time` reads the local offset only in a single-threaded process.
    cli::output::init_local_offset();
    // reqwest is built without a default crypto provider (design notes §1.3).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // `COMPLETE=<shell> trainyard ...` is a shell asking for completions: answer and exit.
    clap_complete::CompleteEnv::with_factory(|| cli::completion_command(command()))
        .var(cli::COMPLETE_VAR)
        .complete();
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Users(args) => blocking(move || admin::users(args)).await,
            Command::Keys(args) => blocking(move || admin::keys(args)).await,
            Command::Projects(args) => blocking(move || admin::projects(args)).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Migrate(args) => blocking(move || migrate::run(args)).await,
            Command::Jobs(args) => cli::jobs::run(&cli.conn, args)
                .await
                .map_err(|e| cli.conn.explain(e)),
            Command::Specs(args) => cli::meta::specs(&cli.conn, &args)
                .await
                .map_err(|e| cli.conn.explain(e)),
            Command::Engines(args) => cli::meta::engines(&cli.conn, &args)
                .await
                .map_err(|e| cli.conn.explain(e)),
            Command::Configs(args) => cli::meta::configs(&cli.conn, args)
                .await
                .map_err(|e| cli.conn.explain(e)),
            Command::Import(args) => cli::import::run(&cli.conn, args)
                .await
                .map_err(|e| cli.conn.explain(e)),
            Command::Login(args) => cli::login::run(&cli.conn, args).await,
            Command::Completions(args) => cli::completions(&args),
            Command::Man(args) => cli::man(&args, command()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // documented exit codes (docs/cli.md "Exit codes")
            match e.downcast_ref::<cli::Exit>() {
                Some(x) => ExitCode::from(x.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}
