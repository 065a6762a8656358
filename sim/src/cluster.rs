//! `SimCluster`: start, reach and stop an embedded cluster; and the one place that assembles
//! it: nodes, system objects, every admission plugin, storage, every controller and the
//! emulated operators. Other modules export constructors; only this file registers them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admission::serviceaccount::ServiceAccountAdmission;
use crate::admission::WebhookAdmission;
use crate::controllers::clock::{Clock, Timing};
use crate::controllers::{self as ctl, Controller};
use crate::nodes::fleet::KubeletFleet;
use crate::nodes::kubelet::Kubelet;
use crate::operators::{certgen::Certgen, prometheus::PrometheusOperator, EmulatedOperator, OperatorController};
use crate::server::{AdmissionPlugin, ApiServer, NamespaceLifecycle};
use crate::storage::admission::{DefaultStorageClass, StorageObjectInUseProtection};
use crate::storage::{protection, provisioner::LocalPathProvisioner, pv_controller::PvController};
use crate::{nodes, storage};

/// How to start an embedded cluster (mirrors a kind cluster's shape).
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Cluster name; nodes are `<name>-control-plane`, `<name>-worker`, `<name>-worker2`, ...
    pub name: String,
    /// Number of worker nodes (kind's default for cleanroom: 2).
    pub workers: usize,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where node filesystems live; a temp dir when `None`.
    pub root_dir: Option<PathBuf>,
    /// How fast controllers and kubelets react: `Instant` (default) or kind-like latencies
    /// (`--sim-timing kind`).
    pub timing: Timing,
    /// The controllers' clock (schedules, back-offs, latencies): the system clock, or a
    /// manual one a test advances (`Clock::manual`, then `SimCluster::clock().advance`).
    pub clock: Clock,
    /// Debug: more than this many stores of one object by one writer (controller or field
    /// manager) within a second is a write storm — logged at error and listed by
    /// `SimCluster::write_storms`. `None` reads `CLEANROOM_SIM_WRITE_STORM`; unset is off.
    pub write_storm_limit: Option<u32>,
    /// How long an Event lives after its last write (kube-apiserver's `--event-ttl`, 1 h).
    pub event_ttl: std::time::Duration,
    /// How many past changes a watch can resume from (older resourceVersions get 410 Gone);
    /// the history holds the objects it carries, so this bounds what deleted objects keep.
    pub watch_history: usize,
    /// Past changes older than this are dropped once the history holds more than
    /// `store::HISTORY_FLOOR` (default 75 s, the watch cache's event freshness).
    pub watch_history_fresh: std::time::Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            name: "cleanroom".into(),
            workers: 2,
            port: 0,
            root_dir: None,
            timing: Timing::Instant,
            clock: Clock::system(),
            write_storm_limit: None,
            event_ttl: crate::server::retention::DEFAULT_EVENT_TTL,
            watch_history: crate::store::EVENT_LOG_CAPACITY,
            watch_history_fresh: crate::store::HISTORY_FRESH,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind the embedded API server to 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig { path: PathBuf, source: std::io::Error },
    #[error("cannot build a client for the embedded cluster: {0}")]
    Client(String),
    #[error("cannot prepare node filesystems in {path}: {source}")]
    NodeRoot { path: PathBuf, source: std::io::Error },
}

/// A running embedded cluster. Dropping it stops the server.
pub struct SimCluster {
    pub(crate) addr: SocketAddr,
    pub(crate) name: String,
    server: Arc<ApiServer>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    root: PathBuf,
    clock: Clock,
    _tempdir: Option<tempfile::TempDir>,
}

impl SimCluster {
    /// Start the API server (and controllers) and return once it serves requests.
    pub async fn start(options: SimOptions) -> Result<SimCluster, SimError> {
        let listener = TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|source| SimError::Bind { port: options.port, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { port: options.port, source })?;
        let (tempdir, root) = match &options.root_dir {
            Some(p) => {
                std::fs::create_dir_all(p).map_err(|source| SimError::NodeRoot { path: p.clone(), source })?;
                (None, p.clone())
            }
            None => {
                let t = tempfile::Builder::new().prefix("cleanroom-sim-").tempdir()
                    .map_err(|source| SimError::NodeRoot { path: std::env::temp_dir(), source })?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let server = Arc::new(ApiServer::new());
        server.storm.set_limit(options.write_storm_limit.or_else(crate::server::storm::limit_from_env));
        server.store.set_history_capacity(options.watch_history);
        server.store.set_history_freshness(options.watch_history_fresh);
        let (tx, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(crate::http::serve(listener, server.clone(), rx.clone())));
        tasks.extend(assemble(&server, &options, &root, rx.clone()));
        tasks.push(tokio::spawn(expire_events(server.clone(), options.event_ttl, options.watch_history_fresh, rx.clone())));
        Ok(SimCluster { addr, name: options.name, server, shutdown: tx, tasks, root, clock: options.clock, _tempdir: tempdir })
    }
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The in-process API server (for benchmarks and white-box tests).
    pub fn api(&self) -> &Arc<ApiServer> {
        &self.server
    }
    /// Node operations (cordon, drain, restarts, mounts, logs, images, files).
    pub fn nodes(&self) -> crate::nodes::NodeOps {
        crate::nodes::NodeOps::new(self.server.clone(), self.root.clone())
    }
    /// The controllers' clock (advance it when it is manual).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Write storms detected so far (empty when the guard is off; see
    /// `SimOptions::write_storm_limit`).
    pub fn write_storms(&self) -> Vec<crate::server::storm::WriteStorm> {
        self.server.storm.storms()
    }
    /// Where the node filesystems live.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The kubeconfig context name.
    pub fn context(&self) -> String {
        format!("sim-{}", self.name)
    }
    /// The kubeconfig YAML (context `sim-<name>`) that reaches this cluster.
    pub fn kubeconfig_yaml(&self) -> String {
        let ctx = self.context();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {ctx}\n  cluster:\n    server: {url}\ncontexts:\n- name: {ctx}\n  context:\n    cluster: {ctx}\n    user: {ctx}\ncurrent-context: {ctx}\npreferences: {{}}\nusers:\n- name: {ctx}\n  user:\n    token: cleanroom-sim\n",
            url = self.url()
        )
    }
    /// Write the kubeconfig atomically (temp file + rename).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SimError> {
        let err = |source| SimError::Kubeconfig { path: path.to_path_buf(), source };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        std::io::Write::write_all(&mut tmp, self.kubeconfig_yaml().as_bytes()).map_err(err)?;
        tmp.persist(path).map_err(|e| err(e.error))?;
        Ok(())
    }
    /// A kube-rs client for this cluster.
    pub fn client(&self) -> kube::Client {
        let url: http::Uri = self.url().parse().expect("loopback url");
        let config = kube::Config::new(url);
        kube::Client::try_from(config).expect("client for loopback http")
    }
    /// Stop serving and stop the controllers.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), t).await;
        }
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Return freed heap pages to the kernel. glibc keeps what a burst of deletes frees in its
/// arenas, and mimalloc (the `cleanroom` binary's allocator) what the purge delay has not yet
/// reached: without this a cluster's RSS stays up long after the objects are gone or packed
/// (with 100k settled pods: 3.5 GB against 2.6 GB). A no-op for an allocator not in use.
fn give_back_freed_memory() {
    // SAFETY: mi_collect only frees what mimalloc holds unused.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often objects nobody touched are looked for: one untouched between two sweeps goes cold
/// (held as bytes). Short enough that pods a rollout is done with go cold while it goes on.
const COOL_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Event expiry, as etcd's leases do it: a sweep every tenth of the TTL (at most `COOL_EVERY`);
/// the same sweep drops stale watch history when nothing is being written, and holds the
/// objects nobody touched since the last one packed (`Store::cool`).
async fn expire_events(server: Arc<ApiServer>, ttl: std::time::Duration, fresh: std::time::Duration, mut shutdown: watch::Receiver<bool>) {
    let every = (ttl / 10).min(fresh / 2).min(COOL_EVERY).max(std::time::Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                let expired = server.expire_events(ttl, chrono::Utc::now());
                let dropped = server.store.compact_stale(std::time::Instant::now());
                let cooled = server.store.cool();
                if expired + dropped + cooled >= 1_000 {
                    give_back_freed_memory();
                }
            }
        }
    }
}

/// Turn a fresh API server into the kind cluster `options` describe, with node filesystems
/// under `root`; returns the controller tasks (stopped by `shutdown`).
fn assemble(server: &Arc<ApiServer>, options: &SimOptions, root: &Path, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let (name, workers, timing, clock) = (options.name.as_str(), options.workers, options.timing, &options.clock);
    // kube-apiserver's built-in plugin guards every write, including the nodes' own.
    server.add_admission(Arc::new(NamespaceLifecycle));
    let specs = nodes::create_nodes(server, name, workers, root);
    // kube-apiserver advertises the control-plane node's address and its secure port.
    if let Some(cp) = specs.first() {
        server.publish_apiserver_endpoints(&cp.ip(), 6443);
    }
    nodes::system::install(server, &specs);
    ctl::apf::install(server);
    *server.nodes_root.write() = Some(root.to_path_buf());
    // Kubelets finish pod deletions (containers stopped, then the pod object is removed).
    server.graceful_pods.store(true, Ordering::Relaxed);

    // The rest of kube-apiserver's chain, in its order: ServiceAccount, DefaultStorageClass,
    // StorageObjectInUseProtection, the webhook plugins, and ResourceQuota last (validating only).
    let webhooks = Arc::new(WebhookAdmission::new());
    let plugins: Vec<Arc<dyn AdmissionPlugin>> = vec![
        Arc::new(ServiceAccountAdmission),
        Arc::new(DefaultStorageClass),
        Arc::new(StorageObjectInUseProtection),
        webhooks.clone(),
        Arc::new(crate::server::quota::ResourceQuotaAdmission),
    ];
    for plugin in plugins {
        server.add_admission(plugin);
    }
    storage::apply_default_storage(server);

    let operators: Vec<Arc<dyn EmulatedOperator>> = vec![Arc::new(PrometheusOperator)];
    for op in &operators {
        if let Some(r) = op.webhook_responder() {
            webhooks.add_responder(r);
        }
    }

    // Storage controllers and operators start first, then kube-controller-manager's and the
    // scheduler's loops, then one kubelet per node.
    let storage_and_operators: Vec<Arc<dyn Controller>> = vec![
        Arc::new(PvController::default()),
        Arc::new(LocalPathProvisioner::new(root.to_path_buf()).with_timing(clock.clone(), timing)),
        Arc::new(protection::PvcProtection::default()),
        Arc::new(protection::PvProtection),
        Arc::new(OperatorController::new(operators)),
        Arc::new(Certgen::default()),
    ];
    let spawn = |c: Arc<dyn Controller>| ctl::spawn(server.clone(), c, clock.clone(), shutdown.clone());
    let late: Vec<JoinHandle<()>> = storage_and_operators.into_iter().map(spawn).collect();
    let mut controllers: Vec<Arc<dyn Controller>> = vec![
        Arc::new(ctl::namespace::NamespaceController::new(clock.clone(), timing)),
        Arc::new(ctl::crd_finalizer::CrdFinalizer),
        Arc::new(ctl::autoregister::AutoRegister::default()),
        Arc::new(ctl::scheduler::Scheduler::default()),
        Arc::new(ctl::deployment::DeploymentController::default()),
        Arc::new(ctl::replicaset::ReplicaSetController::default()),
        Arc::new(ctl::gc::GarbageCollector::new(clock.clone(), timing)),
        Arc::new(ctl::daemonset::DaemonSetController::default()),
        Arc::new(ctl::statefulset::StatefulSetController::default()),
        Arc::new(ctl::job::JobController::new(server)),
        Arc::new(ctl::cronjob::CronJobController::new(clock.clone())),
        Arc::new(ctl::hpa::HpaController::new(clock.clone())),
        Arc::new(ctl::endpoints::EndpointsController::default()),
        Arc::new(ctl::endpointslicemirroring::EndpointSliceMirroring::default()),
        Arc::new(ctl::resourcequota::ResourceQuotaController::default()),
        Arc::new(ctl::serviceaccount::ServiceAccountController::default()),
        Arc::new(ctl::disruption::DisruptionController::default()),
        Arc::new(ctl::apf::ApfConfig::new(clock.clone())),
    ];
    let kubelets = specs.iter().map(|spec| Kubelet::new(spec, root, clock.clone(), timing));
    controllers.push(Arc::new(KubeletFleet::new(kubelets, clock.clone())));
    let mut tasks: Vec<JoinHandle<()>> = controllers.into_iter().map(spawn).collect();
    tasks.extend(late);
    tasks
}
