//! Integration tests: the real `otto-rec` binary on real files in temporary directories.

mod common;
mod data_commands;
mod fuzz;
mod layers;
mod live;
mod openapi;
mod predict;
mod real_logs;
mod serve;
mod train;
