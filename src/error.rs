//! The crate's error type: every failure carries the context a user needs to act on it
//! (the file, the line, the flag), and knows which exit code it maps to.

use std::path::PathBuf;

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
    /// An input file that is readable but unusable as a whole.
    #[error("{path}: {message}")]
    InvalidInput { path: PathBuf, message: String },
    /// A command-line value outside its valid range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A model directory that is missing a file, or whose files do not match its manifest.
    #[error("model directory {dir}: {message}")]
    Artifact { dir: PathBuf, message: String },
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
    /// The HTTP server could not start or stopped with an error.
    #[error("server: {0}")]
    Server(#[source] std::io::Error),
}

impl Error {
    /// Exit code for this error: 1 for bad input or arguments, 2 for anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Parse { .. }
            | Error::InvalidInput { .. }
            | Error::InvalidArgument(_)
            | Error::Artifact { .. } => 1,
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

    /// An input-file error with a message.
    pub fn invalid_input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            path: path.into(),
            message: message.into(),
        }
    }
}
