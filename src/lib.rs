//! otto-rec: session-based product recommendations in the setting of the Kaggle OTTO
//! competition.
//!
//! A shopper's session (items clicked, carted and ordered, with times) goes in; the items
//! they are most likely to click, cart or order next come out. The stages, each a module:
//!
//! - [`data`]: events and sessions, the OTTO file formats, the local-validation split;
//! - [`synthetic`]: an OTTO-like world for tests, fixtures and benchmarks;
//! - [`index`]: the co-visitation tables and item statistics (`build-index`);
//! - [`heuristic`]: the baseline re-rank of the "Candidate ReRank" notebook;
//! - [`candidates`] and [`features`]: what the rankers score, and how it is described;
//! - [`ranker`]: LightGBM training and the request-path evaluator of its models;
//! - [`pipeline`]: the [`Recommender`](pipeline::Recommender) that `predict` and `serve` share;
//! - [`training`]: training rows and the figures `train` reports;
//! - [`metrics`]: the competition's Recall@20;
//! - [`http`]: the HTTP API; [`commands`]: the command-line glue. These two, with the
//!   readers and writers in `data` and `index::store`, are the only places that do I/O.

pub mod candidates;
pub mod cli;
pub mod commands;
pub mod counter;
pub mod data;
pub mod error;
pub mod features;
pub mod heuristic;
pub mod http;
pub mod index;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod ranker;
pub mod rng;
pub mod synthetic;
pub mod training;

pub use error::{Error, Result};

/// Runs a parsed command line.
pub fn run(cli: cli::Cli) -> Result<()> {
    commands::execute(cli.command)
}
