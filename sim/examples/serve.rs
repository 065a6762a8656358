//! Serve an embedded cluster in the foreground: `cargo run -p cleanroom-sim --example serve -- KUBECONFIG`.
#[tokio::main]
async fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "/tmp/sim.kubeconfig".into());
    let sim = cleanroom_sim::SimCluster::start(Default::default()).await.expect("start");
    sim.write_kubeconfig(std::path::Path::new(&path)).expect("kubeconfig");
    eprintln!("serving {} (kubeconfig {path})", sim.url());
    tokio::signal::ctrl_c().await.ok();
    sim.shutdown().await;
}
