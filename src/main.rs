//! The `otto-rec` binary: parses the command line, runs it, maps errors to exit codes
//! (0 success, 1 bad input or arguments, 2 anything else).

use clap::Parser;

fn main() {
    env_logger::Builder::from_env(
        env_logger::Env::new().filter_or("OTTO_LOG", "info,hnsw_rs=warn"),
    )
    .format_timestamp_millis()
    .init();
    let cli = match otto_rec::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { 1 } else { 0 };
            let _ = err.print();
            std::process::exit(code);
        }
    };
    if let Err(err) = otto_rec::run(cli) {
        eprintln!("error: {err}");
        std::process::exit(err.exit_code());
    }
}
