//! The crate's error type. Every failure carries the context a user needs to act on it
//! (the file, the line, the flag), a stable machine-readable [`code`](Error::code) (the
//! HTTP API returns it in error bodies; README lists them) and the exit code it maps to.

use std::path::PathBuf;

use crate::index::TableError;
use crate::ranker::ModelError;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in otto-rec.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line of an input file that is not what the format says.
    #[error("{path}: line {line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// An input file that is readable but unusable.
    #[error("{path}: {problem}")]
    Input {
        path: PathBuf,
        problem: InputProblem,
    },
    /// A command-line value outside its valid range.
    #[error("invalid argument {flag}: {problem}")]
    Argument { flag: &'static str, problem: String },
    /// Tables built elsewhere (`build-index --from-tables`) that cannot be imported.
    #[error("tables directory {dir}: {problem}")]
    Tables {
        dir: PathBuf,
        problem: BundleProblem,
    },
    /// A model directory (bundle) that cannot be used or written as asked.
    #[error("model directory {dir}: {problem}")]
    Bundle {
        dir: PathBuf,
        problem: BundleProblem,
    },
    /// The ranker strategy was asked of a recommender without rankers.
    #[error("no rankers are loaded: train them with `otto-rec train`, or use the heuristic")]
    NoRankers,
    /// An operating-system error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A polars error while reading or writing a named file.
    #[error("{path}: {source}")]
    Polars {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },
    /// An error reported by LightGBM.
    #[error("LightGBM: {0}")]
    Lightgbm(String),
    /// Training asked of a build without LightGBM.
    #[error(
        "this otto-rec was built without training (the cargo feature `train`, LightGBM): \
         build it with the default features, e.g. `cargo build --release`, to train rankers"
    )]
    TrainingNotBuilt,
    /// The HTTP server could not start or stopped with an error.
    #[error("server: {0}")]
    Server(#[source] std::io::Error),
}

/// Why an input file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InputProblem {
    #[error("unknown format: expected a .jsonl (Kaggle OTTO) or .parquet (one row per event) file")]
    UnknownFormat,
    #[error("not a readable Parquet file: {0}")]
    NotParquet(String),
    #[error("missing column `{0}`")]
    MissingColumn(String),
    #[error("row {row}: {detail}")]
    BadRow { row: usize, detail: String },
    #[error("column `{column}`: {detail}")]
    BadColumn { column: String, detail: String },
    #[error("no events")]
    NoEvents,
    #[error("a directory without Parquet files (*.parquet)")]
    NoParquetParts,
    #[error("the last {days} days hold only {sessions} usable sessions: too few to train on ({})", too_few_sessions_hint(*days, *span_days))]
    TooFewSessions {
        days: u32,
        /// Whole days between the log's first and last event.
        span_days: u32,
        sessions: usize,
    },
    #[error(
        "no clicks, carts or orders to learn from: fewer than {min} labelled examples of each among the candidates of the training sessions"
    )]
    NoPositives {
        /// The fewest labelled examples a ranker is fitted on.
        min: usize,
    },
}

/// What makes a log with too few labelled sessions train: a shorter labelled period when
/// it leaves too little of the log to index (its items are then unknown), a longer one
/// when the log has room for it, else more data.
fn too_few_sessions_hint(days: u32, span_days: u32) -> String {
    if days >= span_days / 2 {
        let shorter = (span_days / 5).max(1);
        if shorter < days {
            return format!(
                "the log spans {span_days} days, too few to index and label {days}: try `--days {shorter}`"
            );
        }
        format!("the log spans {span_days} days: it needs sessions over more days to train on")
    } else {
        format!(
            "the log spans {span_days} days: a longer labelled period (`--days {}`) labels more sessions",
            (2 * days).min(span_days / 2)
        )
    }
}

/// Why a model directory cannot be used or written.
#[derive(Debug, thiserror::Error)]
pub enum BundleProblem {
    #[error("not found (build one with `otto-rec build-index`)")]
    NotFound,
    #[error("manifest.json is missing: not a model directory, or its build did not finish")]
    ManifestMissing,
    #[error("manifest.json is corrupt: {0}")]
    ManifestCorrupt(String),
    #[error(
        "manifest.json has format version {found}, this otto-rec reads version {expected}: rebuild the index"
    )]
    FormatVersion { found: u32, expected: u32 },
    #[error("{0} is missing")]
    FileMissing(String),
    #[error("{name} is not readable: {detail}")]
    FileUnreadable { name: String, detail: String },
    #[error(
        "{name} does not match manifest.json ({actual}; expected {expected}): the file is corrupt or from another build"
    )]
    ChecksumMismatch {
        name: String,
        actual: String,
        expected: String,
    },
    #[error("{name}: {source}")]
    Table {
        name: String,
        #[source]
        source: TableError,
    },
    #[error("{name}: {source}")]
    Model {
        name: String,
        #[source]
        source: ModelError,
    },
    #[error(
        "manifest.json lists {present} ranker file(s), not those of the objectives its training report fitted: retrain"
    )]
    IncompleteRankers { present: usize },
    #[error("manifest.json: {0}")]
    BadManifest(String),
    #[error(
        "exists and is not a model directory (no manifest.json): refusing to replace it; remove it or choose another directory"
    )]
    NotABundle,
    #[error("its rankers cannot be kept with the new index: {0}")]
    RankersIncompatible(String),
    #[error(
        "its rankers were trained with item embeddings and it has none: rebuild the index with embeddings, or retrain"
    )]
    RankersNeedEmbeddings,
    #[error(
        "its rankers were trained with similar past sessions and it has no session index: rebuild the index with them (the default), or retrain"
    )]
    RankersNeedSessions,
    #[error(
        "its rankers were trained with the next-item model and it has none: rebuild the index with it (the default with embeddings), or retrain"
    )]
    RankersNeedNextItem,
    #[error("{name}: aid {aid} has no item statistics (no row of item_stats.parquet lists it)")]
    UnknownAid { name: String, aid: u32 },
    #[error("popular.parquet disagrees with item_stats.parquet: {0}")]
    PopularMismatch(String),
    #[error("index.json: {0}")]
    BadIndexJson(String),
    /// The bundle loaded but answered a smoke request wrongly.
    #[error("it loads but fails a smoke request: {0}")]
    SmokeTest(String),
}

impl InputProblem {
    fn code(&self) -> &'static str {
        match self {
            InputProblem::UnknownFormat => "unknown_format",
            InputProblem::NotParquet(_) => "unreadable_parquet",
            InputProblem::MissingColumn(_) => "missing_column",
            InputProblem::BadRow { .. } | InputProblem::BadColumn { .. } => "invalid_value",
            InputProblem::NoEvents => "no_events",
            InputProblem::NoParquetParts => "no_parquet_files",
            InputProblem::TooFewSessions { .. } | InputProblem::NoPositives { .. } => {
                "too_little_data"
            }
        }
    }
}

impl BundleProblem {
    fn code(&self) -> &'static str {
        match self {
            BundleProblem::NotFound => "bundle_not_found",
            BundleProblem::ManifestMissing => "manifest_missing",
            BundleProblem::ManifestCorrupt(_) | BundleProblem::BadManifest(_) => "manifest_corrupt",
            BundleProblem::FormatVersion { .. } => "bundle_version",
            BundleProblem::FileMissing(_) => "bundle_file_missing",
            BundleProblem::FileUnreadable { .. } => "bundle_file_unreadable",
            BundleProblem::ChecksumMismatch { .. } => "checksum_mismatch",
            BundleProblem::Table { .. } => "invalid_table",
            BundleProblem::Model { source, .. } => source.code(),
            BundleProblem::IncompleteRankers { .. } => "incomplete_rankers",
            BundleProblem::NotABundle => "not_a_bundle",
            BundleProblem::RankersIncompatible(_) => "rankers_incompatible",
            BundleProblem::RankersNeedEmbeddings => "rankers_need_embeddings",
            BundleProblem::RankersNeedSessions => "rankers_need_sessions",
            BundleProblem::RankersNeedNextItem => "rankers_need_next_item",
            BundleProblem::SmokeTest(_) => "smoke_test_failed",
            BundleProblem::UnknownAid { .. } => "unknown_aid",
            BundleProblem::PopularMismatch(_) => "popular_mismatch",
            BundleProblem::BadIndexJson(_) => "bad_index_json",
        }
    }
}

impl Error {
    /// A stable snake_case name of the error kind, for machines (HTTP error bodies, logs).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Parse { .. } => "malformed_line",
            Error::Input { problem, .. } => problem.code(),
            Error::Argument { .. } => "invalid_argument",
            Error::Bundle { problem, .. } | Error::Tables { problem, .. } => problem.code(),
            Error::NoRankers => "no_rankers",
            Error::Io { .. } => "io_error",
            Error::Polars { .. } => "polars_error",
            Error::Lightgbm(_) => "lightgbm_error",
            Error::TrainingNotBuilt => "training_not_built",
            Error::Server(_) => "server_error",
        }
    }

    /// Exit code for this error: 1 for bad input or arguments, 2 for anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Parse { .. }
            | Error::Input { .. }
            | Error::Argument { .. }
            | Error::Bundle { .. }
            | Error::Tables { .. }
            | Error::NoRankers
            | Error::TrainingNotBuilt => 1,
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => 1,
                _ => 2,
            },
            Error::Polars { .. } | Error::Lightgbm(_) | Error::Server(_) => 2,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps a polars error with the path it happened on.
    pub fn polars(path: impl Into<PathBuf>, source: polars::error::PolarsError) -> Self {
        Error::Polars {
            path: path.into(),
            source,
        }
    }

    /// An input-file error.
    pub fn input(path: impl Into<PathBuf>, problem: InputProblem) -> Self {
        Error::Input {
            path: path.into(),
            problem,
        }
    }

    /// A bad command-line value.
    pub fn argument(flag: &'static str, problem: impl Into<String>) -> Self {
        Error::Argument {
            flag,
            problem: problem.into(),
        }
    }

    /// A model-directory error.
    pub fn bundle(dir: impl Into<PathBuf>, problem: BundleProblem) -> Self {
        Error::Bundle {
            dir: dir.into(),
            problem,
        }
    }
}
