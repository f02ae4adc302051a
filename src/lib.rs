//! otto-rec: session-based product recommendations in the setting of the Kaggle OTTO
//! competition.
//!
//! A shopper's session (items clicked, carted and ordered, with times) goes in; the items
//! they are most likely to click, cart or order next come out. The modules form layers;
//! each uses only the layers above it:
//!
//! 1. **Domain** — [`domain`]: events, sessions, labels, recommendations, time and history
//!    rules; with the small utilities [`rng`], [`counter`], [`family`] (how a family of
//!    features is declared) and [`progress`] (the trait through which long work reports
//!    progress), and `lightgbm`, the binding to LightGBM's
//!    C library (with the cargo feature `train`).
//! 2. **Core** — pure algorithms that never touch files, HTTP or the command line:
//!    [`split`] (the official validation split), [`metric`] (Recall@20), [`synthetic`]
//!    (an OTTO-like world), [`index`] (the retrieval sources — co-visitation tables, item
//!    vectors and similar items, similar past sessions — and item statistics),
//!    [`heuristic`] (the baseline re-rank), [`candidates`] and [`features`] (what the
//!    rankers score), [`ranker`] (the request-path evaluator of LightGBM models) and
//!    [`pipeline`] (the [`Recommender`](pipeline::Recommender) that `predict` and `serve`
//!    share), [`live`] (the shoppers' live sessions `serve` keeps); and the stage [`training`], which fits the rankers through LightGBM.
//! 3. **Edges** — the only places that do I/O, converting and delegating: [`data`] (file
//!    formats), [`bundle`] (the model directory), [`http`] (the API), [`cli`] and
//!    [`commands`] (the command line).

pub mod bundle;
pub mod candidates;
pub mod cli;
pub mod commands;
pub mod counter;
pub mod data;
pub mod domain;
pub mod error;
pub mod family;
pub mod features;
pub mod heuristic;
pub mod http;
pub mod index;
#[cfg(feature = "train")]
pub mod lightgbm;
pub mod live;
pub mod metric;
pub mod pipeline;
pub mod progress;
pub mod ranker;
pub mod rng;
pub mod split;
pub mod synthetic;
pub mod training;

pub use error::{Error, Result};

/// Runs a parsed command line.
pub fn run(cli: cli::Cli) -> Result<()> {
    commands::execute(cli.command)
}
