//! `cleanroom bench`: placeholder until the embedded cluster serves (filled below).

use clap::Args;

use super::{CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Objects to create for the inventory benchmark.
    #[arg(long, default_value_t = 10_000)]
    pub objects: usize,
    /// Iterations of the wait-latency and overhead benchmarks.
    #[arg(long, default_value_t = 50)]
    pub iterations: usize,
}

pub async fn run(_a: BenchArgs) -> Result<i32, CliError> {
    Ok(EXIT_OK)
}
