//! `cleanroom snapshot` and `cleanroom diff`.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, EXIT_FAILED, EXIT_OK};
use crate::oracle::{self, Inventory};
use crate::primitives::PurgeRecord;
use crate::providers::existing::{client_for, kubeconfig_path};

async fn client(context: Option<String>, kubeconfig: Option<PathBuf>) -> Result<kube::Client, CliError> {
    let path = kubeconfig.unwrap_or_else(kubeconfig_path);
    Ok(client_for(&path, context.as_deref()).await?)
}

pub async fn snapshot(out: PathBuf, context: Option<String>, kubeconfig: Option<PathBuf>) -> Result<i32, CliError> {
    let c = client(context, kubeconfig).await?;
    let inv = oracle::snapshot(&c).await?;
    inv.write(&out).map_err(|e| CliError::Environment(format!("writing {}: {e}", out.display())))?;
    eprintln!("wrote {} objects of {} resource types to {}", inv.objects.len(), inv.resource_types, out.display());
    Ok(EXIT_OK)
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The baseline inventory (from `cleanroom snapshot`).
    #[arg(long)]
    baseline: PathBuf,
    /// Compare with this inventory instead of the live cluster.
    #[arg(long)]
    current: Option<PathBuf>,
    #[arg(long)]
    context: Option<String>,
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Label selectors the uninstall/purge used (repeatable): leftovers are explained against them.
    #[arg(long = "purged-selector")]
    purged_selectors: Vec<String>,
    /// Do not apply the default expected-churn rules.
    #[arg(long)]
    no_default_churn: bool,
    /// Print the diff as JSON.
    #[arg(long)]
    json: bool,
    /// Against a live cluster: wait up to this long (by watching) until nothing is in flight before
    /// deciding (`0s` looks once).
    #[arg(long, default_value = "50s", value_parser = crate::core::duration::parse_duration)]
    settle: std::time::Duration,
}

pub async fn diff(a: DiffArgs) -> Result<i32, CliError> {
    let base = Inventory::read(&a.baseline)?;
    let rules = if a.no_default_churn { Vec::new() } else { oracle::default_churn() };
    let purges: Vec<PurgeRecord> = a.purged_selectors.iter().map(PurgeRecord::selector).collect();
    let (d, current) = match &a.current {
        Some(p) => {
            let current = Inventory::read(p)?;
            (oracle::diff(&base, &current, &rules, &purges), current)
        }
        None => {
            let c = client(a.context.clone(), a.kubeconfig.clone()).await?;
            let settle = oracle::SettleOptions { timeout: a.settle, ..Default::default() };
            oracle::settled_diff(&c, &base, oracle::Check { churn: &rules, purges: &purges, origins: &[], settle }).await?
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d).expect("diff serializes"));
    } else if d.is_clean() {
        println!("clean: {} objects match the baseline ({} churn ignored)", current.objects.len(), d.ignored);
    } else {
        println!("{} leftover(s):", d.leftovers.len());
        println!("{}", d.listing());
    }
    if !a.json && !d.removed.is_empty() {
        eprintln!("note: {} object(s) of the baseline are gone", d.removed.len());
    }
    Ok(if d.is_clean() { EXIT_OK } else { EXIT_FAILED })
}
