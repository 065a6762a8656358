//! API semantics on top of the store: what kube-apiserver's generic registry, strategies and
//! admission chain do for create, read, update, patch, list and delete, plus the
//! subresources with behaviour of their own (scale, binding, token, eviction, reviews).
//! Below the cluster's behaviour modules and the HTTP layer; imports only api, registry, store.

mod admission;
mod decode;
mod defaults;
mod delete;
pub mod strict;
mod list;
pub mod meta;
mod eviction;
pub mod event_correlator;
pub mod ipalloc;
mod prepare;
pub mod retention;
pub mod storm;
mod write;
pub mod subresources;
pub mod quota;

pub use admission::{AdmissionPlugin, AdmissionRequest, NamespaceLifecycle, Operation};
pub use delete::{DeleteOptions, DeleteOutcome, Propagation};
pub use list::{ListOptions, ListResult};
pub use eviction::evict;
pub use meta::{now_rfc3339, random_suffix};

use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::Value;

use crate::api::errors::{ApiError, ApiResult};
use crate::registry::{Registry, ResourceType};
use crate::store::{Store, StoreError};

/// Options every write carries (query parameters of the request).
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub field_manager: Option<String>,
    pub dry_run: bool,
    pub strict: bool,
    pub force: bool,
    /// Set when the write is the create half of a server-side apply (managedFields are
    /// already the Apply entry).
    pub applying: bool,
}

impl WriteOptions {
    pub fn manager(&self, fallback: &str) -> String {
        self.field_manager.clone().unwrap_or_else(|| fallback.to_string())
    }
}

/// The embedded API server's brain, shared by the HTTP layer and the in-process controllers.
pub struct ApiServer {
    pub store: Store,
    pub registry: Registry,
    plugins: RwLock<Vec<Arc<dyn AdmissionPlugin>>>,
    /// Pods are deleted gracefully (kubelet finishes the delete) once a kubelet runs.
    pub graceful_pods: std::sync::atomic::AtomicBool,
    /// Where node filesystems live (`<root>/nodes/<node>`), once nodes exist: the kubelet's
    /// log files back `pods/log`.
    pub nodes_root: RwLock<Option<std::path::PathBuf>>,
    /// Flags writers that store the same object too often (off unless a limit is set).
    pub storm: storm::StormGuard,
    /// Cluster IPs held by Services.
    pub service_ips: ipalloc::ServiceIps,
    /// The event recorders' correlation state (client-go's `EventCorrelator`): which Event a
    /// repeat bumps (without listing Events), similar ones combined, bursts capped.
    pub event_correlator: parking_lot::Mutex<event_correlator::Correlator>,
}

impl Default for ApiServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiServer {
    /// A server with the bootstrap objects and an empty admission chain (`crate::cluster`
    /// registers the plugins).
    pub fn new() -> Self {
        let s = ApiServer {
            store: Store::new(),
            registry: Registry::builtin(),
            plugins: RwLock::new(Vec::new()),
            graceful_pods: std::sync::atomic::AtomicBool::new(false),
            nodes_root: RwLock::new(None),
            storm: storm::StormGuard::default(),
            service_ips: ipalloc::ServiceIps::default(),
            event_correlator: Default::default(),
        };
        if let Ok(rt) = s.resource("", "v1", "events") {
            s.store.order_by_time(&rt.key, retention::last_write_millis);
            s.store.keep_packed(&rt.key);
        }
        s.bootstrap();
        s
    }

    /// Append an admission plugin (plugins run in registration order).
    pub fn add_admission(&self, plugin: Arc<dyn AdmissionPlugin>) {
        self.plugins.write().push(plugin);
    }

    /// The objects every fresh cluster has: system namespaces and the default service.
    fn bootstrap(&self) {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            self.create_internal("", "v1", "namespaces", None, obj).expect("bootstrap namespace");
        }
        let svc = serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
        });
        self.create_internal("", "v1", "services", Some("default"), svc).expect("bootstrap service");
    }

    /// What kube-apiserver's endpoint reconciler keeps for `default/kubernetes`: an Endpoints
    /// (skipped by the EndpointSlice mirroring controller) and its EndpointSlice, both
    /// pointing at the advertised address and secure port.
    pub fn publish_apiserver_endpoints(&self, ip: &str, port: i64) {
        let opts = WriteOptions { field_manager: Some("kube-apiserver".into()), ..Default::default() };
        let ep = serde_json::json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
        });
        let slice = serde_json::json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]
        });
        for (group, plural, obj) in [("", "endpoints", ep), ("discovery.k8s.io", "endpointslices", slice)] {
            if let Ok(rt) = self.resource(group, "v1", plural) {
                self.create(&rt, Some("default"), obj, &opts).expect("bootstrap apiserver endpoints");
            }
        }
    }

    /// Look up a served type or fail like kube-apiserver does for an unknown resource (404).
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> ApiResult<Arc<ResourceType>> {
        self.registry.get(group, version, plural).ok_or_else(ApiError::no_route)
    }

    /// Convenience for in-process callers (controllers, bootstrap): create by group/version/plural.
    pub fn create_internal(&self, group: &str, version: &str, plural: &str, ns: Option<&str>, obj: Value) -> ApiResult<Arc<Value>> {
        let rt = self.resource(group, version, plural)?;
        self.create(&rt, ns, obj, &WriteOptions { field_manager: Some("kube-controller-manager".into()), ..Default::default() })
    }

    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Arc<Value>> {
        self.store
            .get(&rt.key, ns.unwrap_or(""), name)
            .map(|o| meta::as_version(o, rt))
            .ok_or_else(|| ApiError::not_found(&rt.plural, &rt.group, name))
    }

    pub(crate) fn store_err(&self, rt: &ResourceType, name: &str, e: StoreError) -> ApiError {
        match e {
            StoreError::AlreadyExists => ApiError::already_exists(&rt.plural, &rt.group, name),
            StoreError::NotFound => ApiError::not_found(&rt.plural, &rt.group, name),
            StoreError::Conflict => ApiError::stale(&rt.plural, &rt.group, name),
            StoreError::Gone { requested, oldest } => ApiError::gone(format!("too old resource version: {requested} ({oldest})")),
        }
    }

    /// Mutating admission (before object validation).
    fn run_admission(&self, req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        let plugins: Vec<Arc<dyn AdmissionPlugin>> = self.plugins.read().clone();
        for p in plugins {
            p.admit(self, req)?;
        }
        Ok(())
    }

    /// Validating admission (after object validation).
    fn run_validation_admission(&self, req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        let plugins: Vec<Arc<dyn AdmissionPlugin>> = self.plugins.read().clone();
        for p in plugins {
            p.validate(self, req)?;
        }
        Ok(())
    }
}
