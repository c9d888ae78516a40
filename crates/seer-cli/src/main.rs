//! The `seer` command-line tool: import, clean, split, train, evaluate, recommend, tune, bench.
//!
//! Every subcommand is a thin layer over the library crates; the flow is
//! `import → split → train → eval`, with `bench` and `demo` running the whole pipeline.

mod cli;
mod config;
mod fetch;
mod pipeline;
mod store;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // The demo prints its own story on stdout; library progress logs would drown it.
    init_tracing(cli.quiet || cli.is_demo());
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole context chain: "importing data/x: ratings.csv:12: …".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if quiet {
        "warn"
    } else {
        "seer=info,seer_cli=info,seer_data=info,seer_models=info,seer_eval=info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .init();
}
