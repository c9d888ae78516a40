//! One module per subcommand; [`run`] dispatches to them.

mod bench;
mod demo;
mod embed;
mod eval;
mod export;
mod fetch;
mod import;
mod keys;
mod recommend;
mod serve;
mod split;
mod train;
mod tune;

use std::process::ExitCode;

use anyhow::Result;

use crate::args::{Cli, Command};
use crate::config::SeerConfig;
use crate::progress::Progress;

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let progress = Progress::new(cli.quiet);
    if let Command::Config(a) = &cli.command {
        if a.default {
            print!("{}", crate::config::DEFAULT_TOML);
        } else {
            let cfg = SeerConfig::load(&cli.config)?;
            print!("{}", toml::to_string_pretty(&cfg)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = SeerConfig::load(&cli.config)?;
    match cli.command {
        Command::Demo(a) => demo::demo(&a, &cfg, progress),
        Command::Import(a) => import::import_cmd(a, cfg, progress),
        Command::Split(a) => split::split_cmd(&a, &cfg),
        Command::Train(a) => train::train_cmd(&a, &progress),
        Command::Eval(a) => eval::eval_cmd(&a, &cfg, progress),
        Command::Recommend(a) => recommend::recommend_cmd(&a),
        Command::Tune(a) => tune::tune_cmd(&a, &cfg, &progress),
        Command::Bench(a) => bench::bench_cmd(&a, &cfg, progress),
        Command::Serve(a) => serve::serve_cmd(&a),
        Command::Keys(a) => keys::keys_cmd(&a),
        Command::Export(a) => export::export_cmd(&a),
        Command::Fetch(a) => fetch::fetch_cmd(a),
        Command::Embed(a) => embed::embed(&a, &progress),
        Command::Config(_) => unreachable!("handled above"),
    }
}
