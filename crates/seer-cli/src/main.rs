//! The `seer` command-line tool: import, clean, split, train, evaluate, recommend, tune, bench.
//!
//! Every subcommand is a thin layer over the library crates; the flow is
//! `import → split → train → eval`, with `bench` and `demo` running the whole pipeline.

mod args;
mod artifacts;
mod commands;
mod config;
mod fetch;
mod pipeline;
mod pointwise;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    seer_models::keep_freed_memory();
    let cli = args::Cli::parse();
    // The demo prints its own story on stdout; library progress logs would drown it.
    let _trace_guard = init_tracing(cli.quiet || cli.is_demo(), cli.tracing.as_deref());
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole context chain: "importing data/x: ratings.csv:12: …".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up logging to stderr and, with `--tracing FILE`, a Chrome trace (open it in
/// chrome://tracing or Perfetto) of every span: import, fit, evaluate. The returned guard
/// flushes the trace when dropped at the end of `main`.
fn init_tracing(
    quiet: bool,
    chrome: Option<&std::path::Path>,
) -> Option<tracing_chrome::FlushGuard> {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let default = if quiet {
        "warn"
    } else {
        "seer=info,seer_cli=info,seer_data=info,seer_models=info,seer_eval=info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .with_filter(filter);
    let (chrome, guard) = match chrome {
        Some(path) => {
            let (layer, guard) = tracing_chrome::ChromeLayerBuilder::new()
                .file(path)
                .include_args(true)
                .build();
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry().with(fmt).with(chrome).init();
    guard
}
