use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::prelude::*;

// mimalloc: the embedded cluster holds many small JSON nodes; glibc's malloc fragments them and is
// slower to allocate (see `cargo bench -p cleanroom-sim --bench scale`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The embedded cluster's warnings are expected (webhooks failing open, ...): counted and reported once
    // each by the runner, printed as they happen only when CLEANROOM_LOG asks for them.
    let filter = EnvFilter::try_from_env("CLEANROOM_LOG")
        .unwrap_or_else(|_| "warn,cleanroom_sim=off,kube=off,kube_client=off,kube_runtime=off".into());
    let collect = Targets::new().with_target(cleanroom::runner::warnings::SIM_TARGET, LevelFilter::WARN);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).with_filter(filter))
        .with(cleanroom::runner::warnings::Collector.with_filter(collect))
        .init();
    let cli = match cleanroom::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { cleanroom::cli::EXIT_USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cleanroom::cli::execute(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
