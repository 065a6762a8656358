//! `cleanroom sim serve`: an embedded cluster in the foreground.

use std::path::PathBuf;

use cleanroom_sim::{SimCluster, SimOptions};

use super::{CliError, EXIT_OK};

pub async fn serve(nodes: usize, name: String, kubeconfig: PathBuf, port: u16) -> Result<i32, CliError> {
    if nodes == 0 {
        return Err(CliError::Usage("--nodes must be at least 1 (the control plane)".into()));
    }
    let sim = SimCluster::start(SimOptions { name: name.clone(), workers: nodes - 1, port, root_dir: None, ..Default::default() })
        .await
        .map_err(|e| CliError::Other(format!("the embedded cluster failed to start: {e}")))?;
    sim.write_kubeconfig(&kubeconfig).map_err(|e| CliError::Other(e.to_string()))?;
    println!("provider: sim");
    println!("serving embedded cluster {name} ({nodes} node(s)) at {}", sim.url());
    println!("kubeconfig: {}", kubeconfig.display());
    println!("try: kubectl --kubeconfig {} get nodes", kubeconfig.display());
    crate::runner::signals::wait_signal().await;
    eprintln!("stopping");
    sim.shutdown().await;
    let _ = std::fs::remove_file(&kubeconfig);
    Ok(EXIT_OK)
}
