//! The command line (README.md, "Commands"), as typed by the user: clap-derive structs with help
//! text, defaults and `OTTO_*` environment variables. `commands/` turns them into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Session-based product recommendations for the OTTO setting.
#[derive(Debug, Parser)]
#[command(name = "otto-rec", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a synthetic OTTO world: DIR/train.jsonl, DIR/test.jsonl, DIR/test_labels.jsonl.
    Generate(GenerateArgs),
    /// Split an event file by the official local-validation rule.
    Split(SplitArgs),
    /// Score a submission against labels (Recall@20 per type and weighted).
    Evaluate(EvaluateArgs),
    /// Build the co-visitation tables and item statistics into a model directory.
    BuildIndex(BuildIndexArgs),
    /// Fit one LightGBM ranker per objective on a local split of FILE and add them to DIR.
    Train(TrainArgs),
    /// Score every session of a file and write a Kaggle submission (.csv) or lists with scores (.jsonl).
    Predict(PredictArgs),
    /// Serve recommendations over HTTP (POST /predict, GET /health, /metrics, /livez, /readyz).
    Serve(ServeArgs),
    /// Describe an event file: sessions, events, length distribution, type mix, items, time span.
    Stats(StatsArgs),
    /// Convert an event file to another format (e.g. a large JSONL to Parquet, once), or a
    /// public session log (yoochoose, diginetica, retailrocket, any CSV) to OTTO's.
    Convert(ConvertArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Sessions to simulate over the five weeks (before the split).
    #[arg(long, default_value_t = 100_000)]
    pub sessions: usize,
    /// Items in the catalogue [default: sessions / 7, OTTO's ratio, at least 100].
    #[arg(long)]
    pub items: Option<usize>,
    /// Seed; the same seed gives byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct SplitArgs {
    /// Event file (.jsonl or .parquet).
    #[arg(long)]
    pub input: PathBuf,
    /// Output directory for train.jsonl, test.jsonl and test_labels.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Length of the test period in days.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Seed of the cut points.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Labels JSONL (`{"session":..,"labels":{..}}`).
    #[arg(long)]
    pub labels: PathBuf,
    /// Submission CSV (`session_type,labels`).
    #[arg(long)]
    pub submission: PathBuf,
    /// Print {"clicks":..,"carts":..,"orders":..,"total":..,"clicks_mrr":..} instead of a
    /// table (Recall@20 per type and weighted; MRR@20 of the click labels).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Event file to read: .jsonl or .parquet, or a log in the format `--from` names.
    #[arg(long)]
    pub input: PathBuf,
    /// Event file to write (.jsonl or .parquet).
    #[arg(long)]
    pub output: PathBuf,
    /// The input's format when it is a public log: yoochoose (yoochoose-clicks.dat),
    /// diginetica (train-item-views.csv), retailrocket (events.csv), csv (any delimited
    /// log, laid out by --columns).
    #[arg(long, value_name = "FORMAT")]
    pub from: Option<String>,
    /// yoochoose: yoochoose-buys.dat, read as orders.
    #[arg(long, value_name = "FILE")]
    pub buys: Option<PathBuf>,
    /// diginetica: train-purchases.csv, read as orders.
    #[arg(long, value_name = "FILE")]
    pub purchases: Option<PathBuf>,
    /// retailrocket: a visitor's session ends after this many minutes without an event.
    #[arg(long, value_name = "MINUTES", default_value_t = 30)]
    pub session_gap: u64,
    /// csv: the columns of the session, item, time and (optionally) event type, by header
    /// name or 1-based number: session=COL,aid=COL,ts=COL[,type=COL].
    #[arg(long, value_name = "SPEC")]
    pub columns: Option<String>,
    /// csv: the unit of the time column: s, ms or iso (ISO 8601 UTC).
    #[arg(long, value_name = "UNIT", default_value = "s")]
    pub ts_unit: String,
    /// csv: what each value of the type column is: e.g. view=clicks,cart=carts,buy=orders
    /// (VALUE=skip leaves those events out). Without it the values must be clicks, carts,
    /// orders or 0, 1, 2.
    #[arg(long, value_name = "MAP")]
    pub type_map: Option<String>,
    /// csv: the field separator: one character, or `tab`.
    #[arg(long, default_value = ",")]
    pub delimiter: String,
    /// csv: the first line is data, not a header (columns are then numbers).
    #[arg(long)]
    pub no_header: bool,
}

#[derive(Debug, Args)]
pub struct BuildIndexArgs {
    /// Event files (.jsonl or .parquet; a directory stands for its Parquet part files);
    /// sessions of all are used.
    #[arg(long, required_unless_present = "from_tables")]
    pub input: Vec<PathBuf>,
    /// Model directory to write (created if missing).
    #[arg(long, env = "OTTO_MODEL_DIR")]
    pub model_dir: PathBuf,
    /// Import an index built elsewhere instead (the output directory of
    /// scripts/spark/covisit.py): checks its tables and writes them as the bundle, with the
    /// job's parameters (from its index.json).
    #[arg(long, conflicts_with = "input", value_name = "DIR")]
    pub from_tables: Option<PathBuf>,
    /// Most recent events per session that form pairs (1 to 1000).
    #[arg(long, default_value_t = crate::index::IndexParams::default().tables[0].tail)]
    pub tail: usize,
    /// Window of the clicks and carts_orders tables, hours.
    #[arg(long, default_value_t = crate::index::IndexParams::default().tables[0].window_seconds / crate::domain::HOUR)]
    pub window_hours: u32,
    /// Window of the buy2buy table, days.
    #[arg(long, default_value_t = crate::index::IndexParams::default().tables[2].window_seconds / crate::domain::DAY)]
    pub buy2buy_window_days: u32,
    /// Neighbours kept per aid in the clicks table.
    #[arg(long, default_value_t = crate::index::IndexParams::default().tables[0].top_k)]
    pub clicks_top_k: usize,
    /// Neighbours kept per aid in the carts_orders table.
    #[arg(long, default_value_t = crate::index::IndexParams::default().tables[1].top_k)]
    pub carts_orders_top_k: usize,
    /// Neighbours kept per aid in the buy2buy table.
    #[arg(long, default_value_t = crate::index::IndexParams::default().tables[2].top_k)]
    pub buy2buy_top_k: usize,
    /// Days at the end of the input counted as "recent" in item statistics and popularity.
    #[arg(long, default_value_t = crate::index::IndexParams::default().recent_days)]
    pub recent_days: u32,
    /// Pair instances held in memory at once (bounds peak memory, ~28 bytes each).
    #[arg(long, default_value_t = crate::index::IndexParams::default().pairs_per_pass)]
    pub pairs_per_pass: usize,
    /// Drop the bundle's rankers instead of keeping them with the new index.
    #[arg(long)]
    pub drop_rankers: bool,
    /// Item embeddings and the similar-items table (a candidate source and seven ranker
    /// features): on, off, or auto (on for inputs of up to 50M events: they pay on real
    /// logs, and the build at Kaggle scale would take 18 minutes instead of 3; see
    /// BENCHMARKS.md). `--embeddings` alone is on.
    #[arg(long, default_value = "auto", num_args = 0..=1, default_missing_value = "on")]
    pub embeddings: String,
    /// Dimensions of an item vector.
    #[arg(long, default_value_t = crate::index::embedding::EmbeddingParams::default().dim)]
    pub embedding_dim: usize,
    /// Largest distance (in events) between an item and its context in a session.
    #[arg(long, default_value_t = crate::index::embedding::EmbeddingParams::default().window)]
    pub embedding_window: usize,
    /// Negative samples per item-context pair.
    #[arg(long, default_value_t = crate::index::embedding::EmbeddingParams::default().negatives)]
    pub embedding_negatives: usize,
    /// Passes of the embedding trainer over the sessions; auto: enough to pass over 10M
    /// events, at most 10 (one at 10M events and more).
    #[arg(long, default_value = "auto")]
    pub embedding_epochs: String,
    /// Items with fewer events get no vector (and no similar items).
    #[arg(long, default_value_t = crate::index::embedding::EmbeddingParams::default().min_count)]
    pub embedding_min_count: u32,
    /// Subsampling of frequent items: an item with a share f of all events keeps each
    /// event with probability (√(f/t) + 1)·t/f, t = this (0 keeps every event).
    #[arg(long, default_value_t = crate::index::embedding::EmbeddingParams::default().sample)]
    pub embedding_sample: f64,
    /// Seed of the item vectors and the next-item model (the same seed gives the same vectors
    /// on any number of threads).
    #[arg(long, default_value_t = crate::index::embedding::EmbeddingParams::default().seed)]
    pub embedding_seed: u64,
    /// Similar items kept per item.
    #[arg(long, default_value_t = crate::index::embedding::EmbeddingParams::default().similar)]
    pub similar_items: usize,
    /// The next-item model (a feature scorer, not a source: its score of a candidate after
    /// the session is a ranker feature), independent of the item vectors: on, off, or auto
    /// (on for inputs of up to 50M events, as the item vectors). `--next-item` alone is on.
    #[arg(long, default_value = "auto", num_args = 0..=1, default_missing_value = "on")]
    pub next_item: String,
    /// The same as `--next-item off`.
    #[arg(long, conflicts_with = "next_item")]
    pub no_next_item: bool,
    /// Dimensions of the next-item model's vectors.
    #[arg(long, default_value_t = crate::index::embedding::next::NextItemParams::default().dim)]
    pub next_item_dim: usize,
    /// Negative samples per next item.
    #[arg(long, default_value_t = crate::index::embedding::next::NextItemParams::default().negatives)]
    pub next_item_negatives: usize,
    /// Passes of the next-item trainer over the sessions; auto: enough to pass over 30M
    /// events, at most 30 (one at 30M events and more).
    #[arg(long, default_value = "auto")]
    pub next_item_epochs: String,
    /// Leave out the session index (past sessions by item, for the session-kNN candidates).
    #[arg(long)]
    pub no_sessions: bool,
    /// Most recent past sessions listed per item in the session index.
    #[arg(long, default_value_t = crate::index::sessions::SessionKnnParams::default().sessions_per_item)]
    pub sessions_per_item: usize,
    /// Most recent distinct items kept per past session in the session index.
    #[arg(long, default_value_t = crate::index::sessions::SessionKnnParams::default().items_per_session)]
    pub items_per_session: usize,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Sessions to score (.jsonl or .parquet).
    #[arg(long)]
    pub input: PathBuf,
    /// Model directory (index, and rankers when trained).
    #[arg(long, env = "OTTO_MODEL_DIR", default_value = "models/default")]
    pub model_dir: PathBuf,
    /// Output: FILE.csv for a Kaggle submission, FILE.jsonl for items and scores per objective.
    #[arg(long)]
    pub output: PathBuf,
    /// Use the baseline heuristic even when rankers are present.
    #[arg(long)]
    pub heuristic: bool,
    /// Items per objective (a submission keeps at most 20).
    #[arg(long, default_value_t = 20)]
    pub k: usize,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Model directory to load into RAM.
    #[arg(long, env = "OTTO_MODEL_DIR", default_value = "models/default")]
    pub model_dir: PathBuf,
    /// Address to bind.
    #[arg(long, env = "OTTO_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 picks a free one).
    #[arg(long, env = "OTTO_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Worker threads (default: four per core).
    #[arg(long, env = "OTTO_WORKERS")]
    pub workers: Option<usize>,
    /// Largest accepted request body, bytes.
    #[arg(long, env = "OTTO_BODY_LIMIT", default_value_t = crate::http::DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Requests handled at once; beyond it a request gets 503 `overloaded` at once.
    #[arg(long, env = "OTTO_MAX_IN_FLIGHT", default_value_t = crate::http::Limits::default().max_in_flight)]
    pub max_in_flight: usize,
    /// Connections per worker; beyond it new connections wait in the listen backlog.
    #[arg(long, env = "OTTO_MAX_CONNECTIONS", default_value_t = crate::http::Limits::default().max_connections)]
    pub max_connections: usize,
    /// Time a client has to send a request's head, milliseconds (408 after it).
    #[arg(long, env = "OTTO_CLIENT_TIMEOUT_MS", default_value_t = crate::http::Limits::default().client_timeout_ms)]
    pub client_timeout_ms: u64,
    /// Idle keep-alive connections are closed after this many seconds (0: no keep-alive).
    #[arg(long, env = "OTTO_KEEP_ALIVE_SECS", default_value_t = crate::http::Limits::default().keep_alive_secs)]
    pub keep_alive_secs: u64,
    /// Most recent events kept per live session (POST /events); older ones are dropped.
    #[arg(long, env = "OTTO_SESSION_EVENTS", default_value_t = crate::live::StoreLimits::default().events_per_session)]
    pub session_events: usize,
    /// Seconds after its last use when a live session expires.
    #[arg(long, env = "OTTO_SESSION_TTL", default_value_t = crate::live::StoreLimits::default().ttl_secs)]
    pub session_ttl: u64,
    /// Live sessions held at most; beyond it the least recently used is evicted.
    #[arg(long, env = "OTTO_MAX_SESSIONS", default_value_t = crate::live::StoreLimits::default().max_sessions)]
    pub max_sessions: usize,
    /// Most events per POST /events request (413 beyond).
    #[arg(long, env = "OTTO_MAX_BATCH_EVENTS", default_value_t = crate::http::live::DEFAULT_MAX_BATCH)]
    pub max_batch_events: usize,
    /// Keeps the live sessions across restarts: read from FILE at start (when it exists)
    /// and written to it, atomically, when the server stops (embedded store only).
    #[arg(long, env = "OTTO_SESSION_SNAPSHOT", value_name = "FILE")]
    pub session_snapshot: Option<PathBuf>,
    /// Where live sessions are kept: `memory` (in this process) or `redis://HOST:PORT[/DB]`
    /// (shared by every replica that names the same server).
    #[arg(long, env = "OTTO_SESSION_STORE", default_value = "memory")]
    pub session_store: String,
    /// Prefix of the Redis keys of the live sessions.
    #[arg(long, env = "OTTO_SESSION_PREFIX", default_value = "otto:")]
    pub session_prefix: String,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training events (.jsonl or .parquet); split by the official rule.
    #[arg(long)]
    pub input: PathBuf,
    /// Model directory; its index is kept, or built from FILE when it has none.
    #[arg(long, env = "OTTO_MODEL_DIR")]
    pub model_dir: PathBuf,
    /// Days at the end of FILE whose sessions become labelled training sessions; auto: 7
    /// on logs that span two weeks or more, else a fifth of the log's span (at least 1).
    #[arg(long, default_value = "auto")]
    pub days: String,
    /// Seed of the split, the parts and LightGBM.
    #[arg(long, default_value_t = crate::training::TrainConfig::default().seed)]
    pub seed: u64,
    /// Most trees per ranker (early stopping usually ends sooner).
    #[arg(long, default_value_t = crate::training::TrainConfig::default().booster.max_trees)]
    pub max_trees: u32,
    /// LightGBM learning rate.
    #[arg(long, default_value_t = crate::training::TrainConfig::default().booster.learning_rate)]
    pub learning_rate: f64,
    /// LightGBM leaves per tree.
    #[arg(long, default_value_t = crate::training::TrainConfig::default().booster.num_leaves)]
    pub num_leaves: u32,
    /// Deepest split of a tree (bounds the cost of scoring a candidate).
    #[arg(long, default_value_t = crate::training::TrainConfig::default().booster.max_depth)]
    pub max_depth: u32,
    /// Learning objective: binary, lambdarank, or best (fit both, keep per target the one
    /// with the higher validation Recall@20).
    #[arg(long, default_value = "best")]
    pub objective: String,
    /// Test periods to label: 1 is the last --days; each more adds the period before it.
    /// auto: enough periods for 100,000 labelled sessions, at most 12 (one on logs whose
    /// last period has as many).
    #[arg(long, default_value = "auto")]
    pub folds: String,
    /// Cuts of each labelled training session: 1 is the split's own random cut; more label
    /// that many of its prefixes (validation and held-out sessions keep one cut).
    /// auto: 4 on logs whose last period labels fewer than 100,000 sessions, else 1.
    #[arg(long, default_value = "auto")]
    pub cuts: String,
    /// Share of negative training rows kept (positives are always kept).
    #[arg(long, default_value_t = crate::training::TrainConfig::default().negative_rate)]
    pub negative_rate: f64,
    /// Validation sessions at most (early stopping and the choice of objective keep every
    /// candidate row of theirs; the rest of the 10 % train).
    #[arg(long, default_value_t = crate::training::TrainConfig::default().max_validation_sessions)]
    pub max_validation_sessions: usize,
    /// Candidates per co-visitation table.
    #[arg(long, default_value_t = crate::candidates::CandidateConfig::default().per_table)]
    pub candidates_per_table: usize,
    /// Most recent distinct aids of a session whose co-visitation neighbours are candidates.
    #[arg(long, default_value_t = crate::candidates::CandidateConfig::default().history_for_neighbours)]
    pub neighbour_history: usize,
    /// Most recent distinct aids of a session whose similar items (by embedding) are
    /// candidates; 0 leaves the source out. Used when the bundle has embeddings.
    #[arg(long, default_value_t = crate::candidates::CandidateConfig::default().similar_history)]
    pub similar_history: usize,
    /// Items of similar past sessions (session-based kNN) kept as candidates; 0 leaves the
    /// source out. Used when the bundle has a session index (the default).
    #[arg(long, default_value_t = crate::candidates::CandidateConfig::default().knn)]
    pub knn: usize,
    /// Most recent distinct aids of a session that look up similar past sessions.
    #[arg(long, default_value_t = crate::candidates::CandidateConfig::default().knn_query)]
    pub knn_query: usize,
    /// Most recent past sessions sharing an item with the session that are compared with it.
    #[arg(long, default_value_t = crate::candidates::CandidateConfig::default().knn_sample)]
    pub knn_sample: usize,
    /// Most similar past sessions whose items are scored (k).
    #[arg(long, default_value_t = crate::candidates::CandidateConfig::default().knn_neighbours)]
    pub knn_neighbours: usize,
    /// Weight of an item's IDF in its kNN score (0: none).
    #[arg(long, default_value_t = crate::candidates::CandidateConfig::default().knn_idf)]
    pub knn_idf: f32,
    /// Early exit when the bundle recommends: every candidate is scored on this many first
    /// trees of a ranker and only the best --early-exit-keep on the rest; 0 scores every
    /// candidate on every tree.
    #[arg(long, default_value_t = crate::training::DEFAULT_EARLY_EXIT.trees)]
    pub early_exit_trees: usize,
    /// Candidates per session scored on a ranker's remaining trees (at least the items
    /// asked for are, whatever this is).
    #[arg(long, default_value_t = crate::training::DEFAULT_EARLY_EXIT.keep)]
    pub early_exit_keep: usize,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Event files (.jsonl or .parquet).
    #[arg(long, required = true)]
    pub input: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;
    use crate::features::NUM_FEATURES;
    use crate::training::{AUTO_DAYS, AUTO_FOLDS_SESSIONS, MAX_AUTO_FOLDS};

    /// The help text of one flag of one subcommand, on one line.
    fn help(subcommand: &str, flag: &str) -> String {
        let cli = Cli::command();
        let sub = cli.find_subcommand(subcommand).expect("subcommand");
        let arg = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(flag))
            .expect("flag");
        arg.get_help()
            .expect("help")
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `1234567` as the help texts write it: `1,234,567`.
    fn thousands(n: usize) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    /// The `auto` rules the help describes in words are the library's constants.
    #[test]
    fn the_help_of_auto_flags_states_the_library_constants() {
        let folds = help("train", "folds");
        assert!(
            folds.contains(&format!(
                "{} labelled sessions",
                thousands(AUTO_FOLDS_SESSIONS)
            )),
            "{folds}"
        );
        assert!(
            folds.contains(&format!("at most {MAX_AUTO_FOLDS} ")),
            "{folds}"
        );
        let days = help("train", "days");
        assert!(days.contains(&format!("auto: {AUTO_DAYS} ")), "{days}");
    }

    /// The README states the feature count the code has.
    #[test]
    fn the_readme_states_the_feature_count() {
        let readme = include_str!("../README.md");
        let stated = format!("{NUM_FEATURES} features");
        assert!(readme.contains(&stated), "README.md should say {stated:?}");
        for (i, _) in readme.match_indices(" features (") {
            let before = &readme[..i];
            let number: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if !number.is_empty() {
                assert_eq!(
                    number,
                    NUM_FEATURES.to_string(),
                    "README.md: {number} features"
                );
            }
        }
    }
}
