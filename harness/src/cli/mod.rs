//! The `cleanroom` command line. Exit codes: 0 all passed, 1 a scenario failed (or leftovers for `diff`),
//! 2 usage or scenario-file errors, 3 the environment is broken (a provider cannot start, reach or remove
//! its cluster: a tool missing, the container engine down, kind too old; a kubeconfig or baseline that
//! cannot be read).

pub mod bench;
mod bench_providers;
mod chart_source;
mod cluster_args;
mod chart;
mod oracle_cmd;
mod record;
mod run;
mod sim_serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_ENVIRONMENT: i32 = 3;
/// The run was interrupted (SIGINT/SIGTERM): 128 + SIGINT, as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, Parser)]
#[command(name = "cleanroom", version, about = "Scenario tests for Helm charts on Kubernetes, with a whole-cluster clean-state oracle")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List scenarios: one per line, name then description.
    List {
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
    },
    /// Run scenarios by name, or all of them.
    Run(run::RunArgs),
    /// Check one chart the way `ct install` does (install, wait, test, upgrade to itself, uninstall),
    /// then prove the cluster clean; one scenario per values set.
    Chart(chart::ChartArgs),
    /// Render a chart once with the real helm and add it to the renders catalogue (hermetic runs after).
    Record(record::RecordArgs),
    /// Take an inventory of every object in a cluster and write it as JSON.
    Snapshot {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        context: Option<String>,
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    /// Compare a cluster (or a second snapshot) with a baseline snapshot; exit 1 when there are leftovers.
    Diff(oracle_cmd::DiffArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
    /// The embedded cluster.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// Benchmarks: inventory+diff of a 10k-object cluster, wait latency, harness overhead per step.
    Bench(bench::BenchArgs),
    /// Remove what runs that died without cleaning up (SIGKILL, a crash) left: objects labelled with
    /// their run id and kind clusters they named. Runs still alive are left alone.
    Gc {
        /// List what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve an embedded cluster in the foreground until SIGINT/SIGTERM.
    Serve {
        /// Total nodes (one control plane + N-1 workers).
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        #[arg(long, default_value = "cleanroom")]
        name: String,
        /// Written atomically once the cluster serves.
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Provider(#[from] crate::providers::ProviderError),
    #[error(transparent)]
    Inventory(#[from] crate::oracle::InventoryError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("{0}")]
    Usage(String),
    /// The environment is broken: a tool missing or too old, a file that cannot be read or written.
    #[error("{0}")]
    Environment(String),
    #[error("{0}")]
    Other(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Provider(e) if e.is_usage() => EXIT_USAGE,
            // An unreadable kubeconfig, an unreachable cluster, an unreadable baseline: the environment.
            CliError::Provider(_) | CliError::Inventory(_) | CliError::Environment(_) => EXIT_ENVIRONMENT,
            _ => EXIT_FAILED,
        }
    }
}

/// Run the CLI; returns the process exit code.
pub async fn execute(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::List { scenarios } => list(&scenarios),
        Command::Run(args) => run::run(args).await,
        Command::Chart(args) => chart::chart(args).await,
        Command::Record(args) => record::record(args).await,
        Command::Snapshot { out, context, kubeconfig } => oracle_cmd::snapshot(out, context, kubeconfig).await,
        Command::Diff(args) => oracle_cmd::diff(args).await,
        Command::Schema => {
            print!("{}", crate::scenario::schema::scenario_schema_pretty());
            Ok(EXIT_OK)
        }
        Command::Sim { command: SimCommand::Serve { nodes, name, kubeconfig, port } } => {
            sim_serve::serve(nodes, name, kubeconfig, port).await
        }
        Command::Bench(args) => bench::run(args).await,
        Command::Gc { dry_run } => gc(dry_run).await,
    }
}

async fn gc(dry_run: bool) -> Result<i32, CliError> {
    let dir = crate::runner::journal::state_dir();
    let out = crate::runner::gc::collect(&dir, dry_run).await;
    for l in &out.lines {
        println!("{l}");
    }
    for p in &out.problems {
        eprintln!("error: {p}");
    }
    if out.lines.is_empty() && out.problems.is_empty() {
        println!("nothing to collect: no journal of a dead run in {}", dir.join("runs").display());
    }
    Ok(if out.problems.is_empty() { EXIT_OK } else { EXIT_ENVIRONMENT })
}

fn print_parse_errors(errs: &[crate::scenario::ParseError]) {
    for e in errs {
        eprintln!("error: {e}");
    }
}

fn list(dir: &std::path::Path) -> Result<i32, CliError> {
    match crate::scenario::load_dir(dir) {
        Ok(all) => {
            let width = all.iter().map(|s| s.name.len()).max().unwrap_or(0);
            for s in all {
                println!("{:width$}  {}", s.name, s.description);
            }
            Ok(EXIT_OK)
        }
        Err(errs) => {
            print_parse_errors(&errs);
            Ok(EXIT_USAGE)
        }
    }
}
