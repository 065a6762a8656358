//! Where a run's clusters come from — the provider and its options — shared by `run` and `chart`.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::providers::{HelmOptions, ProviderOptions, kwok_container::RuntimeMode};

#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Where the scenarios run: the embedded cluster (`sim`), `kind`, `kwok` (a real control plane,
    /// simulated nodes), `k3s` (one Docker container, through testcontainers) or an `existing` cluster.
    #[arg(long, default_value = "sim", value_parser = ["sim", "kind", "kwok", "k3s", "existing"])]
    pub provider: String,
    /// How the kwok provider runs its control plane: `binary` (local binaries, see --tools), `container`
    /// (kwok's all-in-one image in Docker; no StorageClass), or `auto`: binary when every binary is
    /// found, else the container when Docker answers.
    #[arg(long, default_value = "auto", value_parser = ["auto", "binary", "container"])]
    pub kwok_runtime: String,
    /// Where the kwok provider finds kwokctl, kwok, etcd, kube-apiserver, kube-controller-manager,
    /// kube-scheduler and local-path-provisioner (default: $CLEANROOM_TOOLS_BIN, then PATH; `ci/tools.sh
    /// kwok-cluster` builds them).
    #[arg(long, value_name = "DIR")]
    pub tools: Option<PathBuf>,
    /// How fast the embedded cluster reacts: `instant`, or `kind` (kind-like latencies and the kubelet's
    /// one-minute log GC, so a scenario that passes with it does not race on kind).
    #[arg(long, default_value = "instant", value_parser = ["instant", "kind"])]
    pub sim_timing: String,
    /// kubeconfig context (provider `existing`; an error on `sim`).
    #[arg(long)]
    pub context: Option<String>,
    /// kubeconfig of the cluster (provider `existing`; default `$KUBECONFIG`, then `~/.kube/config`).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// kind node image (default: kindest/node v1.35.0 pinned by digest).
    #[arg(long)]
    pub node_image: Option<String>,
    /// Reuse this existing kind cluster (never deleted, not even without --keep).
    #[arg(long)]
    pub cluster: Option<String>,
    /// A local image to load into the kind nodes (`kind load docker-image`) before the scenarios; repeatable.
    #[arg(long = "load-image")]
    pub load_images: Vec<String>,
}

impl ClusterArgs {
    /// The provider's options, after refusing options the chosen provider does not take. `images`: the
    /// selected scenarios' `images:`, loaded (kind) with the `--load-image`s, each once.
    pub fn options<'a>(&self, helm: HelmOptions, images: impl IntoIterator<Item = &'a String>) -> Result<ProviderOptions, CliError> {
        let needs = |flag: &str, what: &str, provider: &str| {
            CliError::Usage(format!("{flag} {what}: it needs --provider {provider} (got {})", self.provider))
        };
        if self.sim_timing != "instant" && self.provider != "sim" {
            return Err(needs("--sim-timing", "sets the embedded cluster's timing", "sim"));
        }
        if self.kwok_runtime != "auto" && self.provider != "kwok" {
            return Err(needs("--kwok-runtime", "chooses how kwok runs", "kwok"));
        }
        let mut load_images: Vec<String> = Vec::new();
        for i in self.load_images.iter().cloned().chain(images.into_iter().cloned()) {
            if !load_images.contains(&i) {
                load_images.push(i);
            }
        }
        Ok(ProviderOptions {
            context: self.context.clone(),
            node_image: self.node_image.clone(),
            cluster: self.cluster.clone(),
            load_images,
            tools: self.tools.clone(),
            kwok_runtime: RuntimeMode::parse(&self.kwok_runtime).unwrap_or_default(),
            kubeconfig: self.kubeconfig.clone(),
            helm,
            sim_timing: if self.sim_timing == "kind" { cleanroom_sim::Timing::Kind } else { cleanroom_sim::Timing::Instant },
        })
    }
}
