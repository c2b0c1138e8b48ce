//! `nephele`: start the server, or talk to a running one. Parsing and dispatch only.

mod accounts;
mod args;
mod client;
mod commands;
mod demo;
mod events;
mod keys;
mod plugin_check;
mod serve;
mod spend;
mod table;

use std::process::ExitCode;

use clap::Parser;

/// The allocator of the whole process: see the dependency's comment in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match cli.command {
        args::Command::Serve(serve_args) => serve::run(serve_args).await,
        args::Command::Keys(keys_command) => {
            keys::run(keys_command, cli.global.output, cli.global.provider).await
        }
        args::Command::Plugin(args::PluginCommand::Check(check)) => {
            plugin_check::run(check, cli.global.provider).await
        }
        args::Command::Secrets(args::SecretsCommand::Generate { out }) => accounts::generate_key(&out),
        command => commands::run(&cli.global, command).await,
    }
}
