//! `trainyard`: the server (`trainyard serve`) and the command-line client in one binary.

mod admin;
mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// trainyard: a self-hosted training-job service speaking the ModelArts v1 API.
#[derive(Debug, Parser)]
#[command(name = "trainyard", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (embedded SQLite store and local executor in a data directory).
    ///
    /// Example: `trainyard serve --listen 127.0.0.1:8080 --data-dir ./trainyard-data`
    Serve(serve::ServeArgs),
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            Command::Serve(args) => serve::run(args).await,
            Command::Users(args) => admin::users(args),
            Command::Keys(args) => admin::keys(args),
            Command::Projects(args) => admin::projects(args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
