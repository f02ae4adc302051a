//! `generate`: writes a synthetic OTTO world (train, test and labels in Kaggle format).

use crate::cli::GenerateArgs;
use crate::commands::split::write_split;
use crate::error::{Error, Result};
use crate::synthetic::{WorldConfig, generate};

pub fn run(args: GenerateArgs) -> Result<()> {
    let config = WorldConfig {
        sessions: args.sessions,
        items: args.items.unwrap_or((args.sessions / 7).max(100)),
        seed: args.seed,
    };
    let world =
        generate(config).map_err(|e| Error::argument("--sessions/--items", e.to_string()))?;
    write_split(&args.out, &world.train, &world.test, &world.labels)?;
    eprintln!(
        "wrote {}: {} train sessions ({} events), {} test sessions ({} events)",
        args.out.display(),
        world.train.len(),
        world.train.num_events(),
        world.test.len(),
        world.test.num_events()
    );
    Ok(())
}
