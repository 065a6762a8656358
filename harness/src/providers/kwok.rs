//! kwok: a real control plane — etcd, kube-apiserver, kube-controller-manager, kube-scheduler — run as
//! plain processes by `kwokctl create cluster --runtime binary`, with nodes and pods simulated by the
//! kwok controller. No container engine, no download: every binary is local (`--tools DIR`,
//! `CLEANROOM_TOOLS_BIN` or PATH; `ci/tools.sh kwok-cluster` builds them). One cluster per run, shaped
//! like kind: nodes `<name>-control-plane` (tainted), `<name>-worker`, `<name>-worker2`; kind's
//! kube-system add-ons; the default StorageClass `standard` served by the real local-path-provisioner,
//! run as a process next to the cluster (its helper pods completed by a kwok stage).
//!
//! Order: record "create attempted" (from then on `finish` deletes, even after an interrupted or
//! failed create) and journal the directory (again with the component pids once they run, and the
//! provisioner's, for `cleanroom gc` after a crash); `kwokctl create cluster` in its own process group with `KWOK_WORKDIR` set to a
//! directory of this run; register the nodes and watch until they are Ready; apply kind's manifests;
//! start the provisioner. `finish` stops the provisioner, runs `kwokctl delete cluster` (which stops the
//! components by their pid files) and removes the run's directory.
//!
//! Pods of a chart's operator run for real when its binary was built ([`kwok_pods`]: prometheus-operator),
//! so the objects it makes are the real operator's; they stop with their pod and with the cluster.
//!
//! `--kwok-runtime container` (or `auto` without the binaries) runs the same control plane in kwok's
//! all-in-one image instead ([`kwok_container`]): same nodes and add-ons, no StorageClass, no pods run
//! for real.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use testcontainers_modules::kwok::KwokCluster;

use super::api_nodes::ApiNodes;
use super::docker::{self, Managed};
use super::existing::client_for;
use super::kwok_container::{self, Plan};
use super::kwok_pods::{self, PodProcesses};
use super::kwok_setup::{self as setup, KwokTools};
use super::process::{Background, ToolCall};
use super::process::ProcessIdentity;
use super::{Capabilities, ClusterHandle, ExternalCluster, Provider, ProviderError, ProviderOptions, Recorder};

const CREATE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// What `kwokctl create cluster --wait` gives the control plane to answer.
const CONTROL_PLANE_WAIT_SECS: u64 = 120;
const DELETE_TIMEOUT: Duration = Duration::from_secs(2 * 60);
const NODES_READY_TIMEOUT: Duration = Duration::from_secs(2 * 60);
const WORKERS: usize = 2;
/// After the add-ons are applied: until the cluster stops changing by itself.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2 * 60);
const FIELD_MANAGER: &str = "cleanroom-kwok";

/// Why node-filesystem steps are skipped on kwok.
pub const NO_NODE_FILESYSTEM: &str = "its nodes are Node objects simulated by the kwok controller: no kubelet, container \
     runtime, mounts, logs or images to reach (cordon and drain work through the API)";

struct Ready {
    kubeconfig: PathBuf,
    client: kube::Client,
    nodes: Arc<ApiNodes>,
    gc_graph: Option<String>,
}

pub struct KwokProvider {
    cluster: String,
    run_id: String,
    /// Binaries, or the all-in-one container (`--kwok-runtime`).
    runtime: Plan,
    /// The container of the container runtime (unused on the binary one).
    container: Managed<KwokCluster>,
    /// The run's directory (KWOK_WORKDIR, kubeconfig, stages, logs), set just before `kwokctl create`
    /// starts: from then on `finish` deletes the cluster and removes it.
    workdir: Option<PathBuf>,
    provisioner: Option<Background>,
    /// Processes of pods whose image runs for real (binary runtime).
    pod_processes: Option<PodProcesses>,
    /// Binaries of [`kwok_pods::BACKED`] tools that were found (optional: without one, its pods are
    /// simulated only and the run says so).
    pod_tools: std::collections::BTreeMap<String, PathBuf>,
    ready: Option<Ready>,
    /// create → every node Ready, for `cleanroom bench` and the report's findings.
    pub startup: Option<Duration>,
    helm: super::HelmOptions,
    /// The run journal: the cluster's directory and processes, for `cleanroom gc` after a crash.
    recorder: Option<Recorder>,
}

impl KwokProvider {
    /// Fails (an environment error, exit 3) when the runtime needs the binaries and any is missing, naming
    /// all of them. Whether Docker answers (container runtime) is asked when the cluster is made.
    pub fn new(run_id: &str, options: ProviderOptions) -> Result<Self, ProviderError> {
        let runtime = kwok_container::plan(options.kwok_runtime, setup::locate(options.tools.as_deref()))?;
        let cluster = super::cluster_name("kwok", run_id);
        Ok(KwokProvider {
            container: Managed::new(cluster.clone()),
            cluster,
            run_id: run_id.into(),
            runtime,
            workdir: None,
            provisioner: None,
            pod_processes: None,
            pod_tools: kwok_pods::BACKED
                .iter()
                .filter_map(|b| Some((b.tool.to_string(), setup::locate_optional(options.tools.as_deref(), b.tool)?)))
                .collect(),
            ready: None,
            startup: None,
            helm: options.helm,
            recorder: None,
        })
    }

    /// The binaries, on the binary runtime.
    fn tools(&self) -> Option<&KwokTools> {
        match &self.runtime {
            Plan::Binary(t) => Some(t),
            Plan::Container { .. } => None,
        }
    }

    fn runtime_name(&self) -> &'static str {
        if self.tools().is_some() { "binary" } else { "container" }
    }

    fn kwokctl(&self, tools: &KwokTools, workdir: &Path, args: Vec<String>) -> ToolCall {
        let mut call = ToolCall::new(tools.get("kwokctl"), args);
        call.env.push(("KWOK_WORKDIR".into(), workdir.join("kwok").display().to_string()));
        call
    }

    fn kubeconfig(workdir: &Path) -> PathBuf {
        workdir.join("kubeconfig")
    }

    /// The cluster's component logs (etcd, kube-apiserver, ...), kept until `finish`.
    fn logs_dir(&self, workdir: &Path) -> PathBuf {
        workdir.join("kwok").join("clusters").join(&self.cluster).join("logs")
    }

    async fn start(&mut self) -> Result<Ready, ProviderError> {
        let started = Instant::now();
        let io = |what: &Path, e: std::io::Error| ProviderError::Kubeconfig(format!("{}: {e}", what.display()));
        // A private directory under the system temp dir: kwokctl's cluster dir, pid files and etcd data.
        let workdir = tempfile::Builder::new()
            .prefix(&format!("cleanroom-kwok-{}-", self.cluster))
            .tempdir()
            .map_err(|e| io(&std::env::temp_dir(), e))?
            .keep();
        self.workdir = Some(workdir.clone());
        let kubeconfig = Self::kubeconfig(&workdir);
        match &self.runtime {
            Plan::Binary(tools) => {
                self.record(&workdir, &[]);
                let stages = workdir.join("stages.yaml");
                std::fs::write(&stages, setup::STAGES).map_err(|e| io(&stages, e))?;
                let argv = setup::create_argv(&self.cluster, tools, &stages, &kubeconfig, CONTROL_PLANE_WAIT_SECS);
                // kwokctl picks ports that nothing listens on yet: two creates at once could pick the same ones.
                let _ports = create_lock().await;
                let created = self.kwokctl(tools, &workdir, argv).run(Some(CREATE_TIMEOUT)).await;
                // Whatever started (even on a failed create) is journalled for `cleanroom gc`.
                self.record(&workdir, &[]);
                created?;
            }
            Plan::Container { missing } => {
                let docker = docker::check_reachable(kwok_container::DOCKER_HINT).await;
                kwok_container::resolve(missing.as_ref(), docker)?;
                kwok_container::start(&mut self.container, &self.run_id, &kubeconfig).await?;
            }
        }

        let client = client_for(&kubeconfig, None).await?;
        for node in setup::node_objects(&self.cluster, WORKERS) {
            setup::apply_one(&client, node, FIELD_MANAGER).await?;
        }
        let names = setup::node_names(&self.cluster, WORKERS);
        super::node_ready::wait_nodes_ready(client.clone(), &names, NODES_READY_TIMEOUT).await?;
        setup::apply_manifest(&client, cleanroom_sim::kind_manifests::SYSTEM, FIELD_MANAGER).await?;
        // The container runtime has no provisioner to serve a StorageClass: none is made (NO_STORAGE).
        let storage = self.tools().is_some();
        if storage {
            setup::apply_manifest(&client, cleanroom_sim::kind_manifests::STORAGE, FIELD_MANAGER).await?;
        }
        setup::settle(&client, names.len(), storage, SETTLE_TIMEOUT).await?;

        if let Some(tools) = self.tools() {
            let config = workdir.join("local-path-config.json");
            std::fs::write(&config, cleanroom_sim::kind_manifests::local_path_config()).map_err(|e| io(&config, e))?;
            let call = ToolCall::new(tools.get("local-path-provisioner"), setup::provisioner_argv(&kubeconfig, &config));
            let log = workdir.join("local-path-provisioner.log");
            self.provisioner = Some(Background::start(&call, &log)?);
            let provisioner: Vec<i32> = self.provisioner.as_ref().and_then(Background::pid).map(|p| p as i32).into_iter().collect();
            self.record(&workdir, &provisioner);
            // Each change of the pods' processes journals the cluster again, with them.
            let journal = self.journal_fn(&workdir, provisioner);
            let on_pids: kwok_pods::OnPids = Arc::new(move |pids: &[i32]| journal(pids));
            self.pod_processes =
                Some(PodProcesses::start(client.clone(), kubeconfig.clone(), workdir.clone(), self.pod_tools.clone(), on_pids));
        }
        self.startup = Some(started.elapsed());
        let nodes = Arc::new(ApiNodes { client: client.clone(), names, no_filesystem: NO_NODE_FILESYSTEM });
        // The binary runtime's kube-controller-manager listens where kwokctl recorded; the container
        // runtime's is inside the container.
        let gc_graph = self
            .tools()
            .and_then(|_| std::fs::read_to_string(workdir.join("kwok").join("clusters").join(&self.cluster).join("kwok.yaml")).ok())
            .and_then(|y| setup::gc_graph_url(&y));
        Ok(Ready { kubeconfig, client, nodes, gc_graph })
    }

    /// Journal the cluster with its component processes (and `extra` pids) as they are now.
    /// (The binary runtime's: a container is journalled by its name before it starts.)
    fn record(&self, workdir: &Path, extra: &[i32]) {
        self.journal_fn(workdir, Vec::new())(extra);
    }

    /// What journals the cluster with its components, `fixed` pids and the pids it is given.
    fn journal_fn(&self, workdir: &Path, fixed: Vec<i32>) -> impl Fn(&[i32]) + Send + Sync + 'static {
        let target = self.recorder.clone().zip(self.tools().map(|t| t.get("kwokctl").to_path_buf()));
        let (cluster, workdir) = (self.cluster.clone(), workdir.to_path_buf());
        move |extra: &[i32]| {
            let Some((r, kwokctl)) = &target else { return };
            let pids = component_pids(&workdir, &cluster).into_iter().chain(fixed.iter().copied()).chain(extra.iter().copied());
            let processes = pids.filter_map(ProcessIdentity::of).collect();
            r(&ExternalCluster { name: cluster.clone(), workdir: workdir.clone(), kwokctl: kwokctl.clone(), processes });
        }
    }

    /// Stop the provisioner, delete the cluster and remove the run's directory (idempotent).
    async fn teardown(&mut self) -> Result<(), ProviderError> {
        if let Some(p) = self.pod_processes.take() {
            p.stop().await;
        }
        if let Some(p) = self.provisioner.take() {
            p.stop().await;
        }
        let removed = self.container.remove().await;
        let Some(workdir) = self.workdir.take() else { return removed };
        let Some(tools) = self.tools() else {
            removed?;
            return std::fs::remove_dir_all(&workdir).map_err(|e| ProviderError::Kubeconfig(format!("remove {}: {e}", workdir.display())));
        };
        // kwokctl signals its components and returns; kube-apiserver may still hold its port while it
        // shuts down, so wait for the processes themselves before calling the cluster gone.
        let pids = component_pids(&workdir, &self.cluster);
        let deleted = self.kwokctl(tools, &workdir, setup::delete_argv(&self.cluster, &Self::kubeconfig(&workdir))).run(Some(DELETE_TIMEOUT)).await;
        let killed = super::process::reap(&pids, Duration::from_secs(20)).await;
        if !killed.is_empty() {
            eprintln!("warning: kwok cluster {}: {} component(s) ignored SIGTERM for 20 s and were killed (pids {killed:?})", self.cluster, killed.len());
        }
        if deleted.is_ok() {
            std::fs::remove_dir_all(&workdir).map_err(|e| ProviderError::Kubeconfig(format!("remove {}: {e}", workdir.display())))?;
        }
        deleted.map(|_| ()).map_err(ProviderError::from)
    }
}

impl Provider for KwokProvider {
    fn name(&self) -> &'static str {
        "kwok"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { helm: true, nodes: true, node_filesystem: false, containers: false }
    }
    fn cluster_name(&self) -> Option<String> {
        Some(self.cluster.clone())
    }
    fn container_name(&self) -> Option<String> {
        self.tools().is_none().then(|| self.container.name.clone())
    }
    fn set_recorder(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }
    fn ensure<'a>(&'a mut self, _scenario: &'a str, _workdir: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>> {
        Box::pin(async move {
            if self.ready.is_none() {
                let ready = self.start().await?;
                self.ready = Some(ready);
            }
            let r = self.ready.as_ref().expect("started above");
            // `--helm auto` installs a recorded render when one matches (hermetic, and the same
            // objects as on the embedded cluster, so outcomes compare), else the helm binary.
            let context = format!("kwok-{}", self.cluster);
            let helm = Some(self.helm.engine(&r.client, &r.kubeconfig, Some(context.clone())));
            Ok(ClusterHandle {
                client: r.client.clone(),
                kubeconfig: r.kubeconfig.clone(),
                context: Some(context),
                description: format!(
                    "kwok cluster {} (kube-apiserver {}, {} runtime{}; created, Ready and settled in {:.1}s)",
                    self.cluster,
                    self.server_url(),
                    self.runtime_name(),
                    if self.tools().is_some() { "" } else { ", no StorageClass" },
                    self.startup.unwrap_or_default().as_secs_f64()
                ),
                helm,
                nodes: Some(r.nodes.clone()),
                gc_graph: r.gc_graph.clone(),
            })
        })
    }
    fn finish<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            self.ready = None;
            if keep && let Some(id) = self.container.keep() {
                let w = self.workdir.take().unwrap_or_default();
                println!(
                    "kwok cluster {} kept: kubeconfig {}; remove it with `{}; rm -rf {}`",
                    self.cluster,
                    Self::kubeconfig(&w).display(),
                    docker::rm_command(&id),
                    w.display()
                );
                return Ok(());
            }
            if keep && self.workdir.is_some() {
                // The cluster's processes run detached already; the provisioner and the pods' processes
                // are ours, so let them go too.
                if let Some(pid) = self.provisioner.take().and_then(Background::detach) {
                    let pods = self.pod_processes.take().map(PodProcesses::detach).unwrap_or_default();
                    let pids: String = std::iter::once(pid).chain(pods.iter().copied()).map(|p| format!(" {p}")).collect();
                    let w = self.workdir.take().unwrap_or_default();
                    println!(
                        "kwok cluster {c} kept: remove it with `KWOK_WORKDIR={w}/kwok kwokctl --name {c} delete cluster; kill{pids}; rm -rf {w}` \
                         ({pid}: its local-path-provisioner{})",
                        if pods.is_empty() { String::new() } else { format!("; {pods:?}: processes of its operator pods") },
                        c = self.cluster,
                        w = w.display(),
                    );
                }
                self.workdir = None;
                return Ok(());
            }
            self.teardown().await
        })
    }
    fn after_scenario<'a>(&'a mut self, failed: bool, scenario_dir: &'a Path) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let workdir = self.workdir.clone()?;
            let mut notes = self.pod_processes.as_ref().map(PodProcesses::take_notes).unwrap_or_default();
            if failed && self.tools().is_none() {
                notes.extend(self.container.save_logs(&scenario_dir.join("container-logs")).await);
            } else if failed {
                // The pods' processes log into the run's directory too.
                let dest = scenario_dir.join("kwok-logs");
                notes.push(match copy_logs(&[self.logs_dir(&workdir), workdir.clone()], &dest) {
                    Ok(n) => format!("{n} kwok component log(s) copied to {}", dest.display()),
                    Err(e) => format!("copying the kwok logs failed: {e}"),
                });
            }
            (!notes.is_empty()).then(|| notes.join("; "))
        })
    }
}

impl KwokProvider {
    fn server_url(&self) -> String {
        let Some(r) = &self.ready else { return "?".into() };
        kube::config::Kubeconfig::read_from(&r.kubeconfig)
            .ok()
            .and_then(|k| k.clusters.into_iter().next())
            .and_then(|c| c.cluster.and_then(|c| c.server))
            .unwrap_or_else(|| "?".into())
    }
}

/// An exclusive lock held while `kwokctl create` runs (until its components listen), across every
/// cleanroom process on the machine. Best effort: without the lock file, creates are not serialized.
async fn create_lock() -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    let path = std::env::temp_dir().join("cleanroom-kwok-create.lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).ok()?;
    tokio::task::spawn_blocking(move || {
        // SAFETY: flock on a file descriptor this closure owns; released when the file is closed.
        (unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0).then_some(file)
    })
    .await
    .ok()
    .flatten()
}

/// The pids kwokctl recorded for the cluster's components (`<KWOK_WORKDIR>/clusters/<name>/pids/*.pid`).
pub fn component_pids(workdir: &Path, cluster: &str) -> Vec<i32> {
    let dir = workdir.join("kwok").join("clusters").join(cluster).join("pids");
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok()).collect()
}

/// The `*.log` files of `dirs` into `dest`.
fn copy_logs(dirs: &[PathBuf], dest: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dest)?;
    let mut n = 0;
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                std::fs::copy(e.path(), dest.join(e.file_name()))?;
                n += 1;
            }
        }
    }
    Ok(n)
}

impl Drop for KwokProvider {
    /// Last resort when `finish` never ran: stop the provisioner (its guard) and delete synchronously.
    /// (A container's testcontainers handle removes it when dropped; its directory holds the kubeconfig only.)
    fn drop(&mut self) {
        self.provisioner.take();
        // Its task ends with the runtime; its processes' guards kill them.
        self.pod_processes.take();
        if let Some(workdir) = self.workdir.take() {
            let Some(tools) = self.tools() else {
                let _ = std::fs::remove_dir_all(&workdir);
                return;
            };
            eprintln!("deleting kwok cluster {} (the run ended without finishing)", self.cluster);
            let call = self.kwokctl(tools, &workdir, setup::delete_argv(&self.cluster, &Self::kubeconfig(&workdir)));
            let ok = std::process::Command::new(&call.binary).args(&call.args).envs(call.env.iter().cloned()).status().is_ok_and(|s| s.success());
            if ok {
                let _ = std::fs::remove_dir_all(&workdir);
            }
        }
    }
}
