//! cleanroom-helm: Helm engines behind one trait, [`HelmEngine`] (install / upgrade / uninstall / list /
//! status):
//!
//! - [`RecordedRenderEngine`] installs a recorded `helm template` render through kube-rs with Helm v4's
//!   semantics (CRDs first and never deleted, the ownership check, install order, hooks with weights and
//!   delete policies, release Secrets `sh.helm.release.v1.<name>.v<rev>`, uninstall honouring
//!   `helm.sh/resource-policy: keep`). It works on any cluster and needs no binary: the embedded cluster's
//!   default. [`RenderCatalog`] maps (chart, version, release, namespace, values) to a render.
//! - [`HelmCli`] runs the `helm` binary against a kubeconfig.
//!
//! ```no_run
//! # async fn doc(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use cleanroom_helm::{HelmEngine, InstallRequest, RecordedRenderEngine};
//! let engine = RecordedRenderEngine::discover(client)?; // finds fixtures/renders.yaml
//! let req = InstallRequest::new("prometheus-stack", "monitoring", "prometheus-community/kube-prometheus-stack");
//! let release = engine.install(&req).await?;
//! println!("{} revision {}", release.name, release.revision);
//! # Ok(()) }
//! ```
//!
//! Errors print Helm's own texts (see [`HelmError`]). Release records carry user values, which may hold
//! passwords: nothing in this crate logs values or Secret data.

mod actions;
mod catalog;
mod choice;
mod cli;
mod error;
mod hooks;
mod kubeops;
pub mod order;
mod recorded;
mod release;
pub mod render;
mod values;

use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;

pub use actions::{TestReport, binary_for, parse_test_output};
pub use catalog::{CatalogEntry, RenderCatalog, ResolvedRender};
pub use choice::{EngineMode, HelmChoice, find_helm};
pub use cli::{HelmCli, HelmVersion, MIN_HELM};
pub use error::{Failure, HelmError, RenderError};
pub use recorded::RecordedRenderEngine;
pub use release::{ReleaseRecord, decode_release, encode_release, secret_name};
pub use render::{ChartMeta, Render, parse_render};
pub use values::user_values;

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";

/// Helm's default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// `helm install <release> <chart> -n <namespace> [--version] [-f ...] [--set ...]`.
#[derive(Clone)]
pub struct InstallRequest {
    pub release: String,
    pub namespace: String,
    /// Chart reference as given to helm: `repo/name`, `oci://…`, a path, or a bare name.
    pub chart: String,
    pub version: Option<String>,
    pub values_files: Vec<PathBuf>,
    /// Inline values (nested map), applied after `values_files` like one more `-f` file.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// `--set` arguments (`a.b=c`; a leading `--set ` is accepted).
    pub set: Vec<String>,
    /// Recorded render to install (recorded engine only); when `None` the engine's catalogue
    /// picks one from chart, version, release, namespace and values.
    pub render: Option<PathBuf>,
    pub create_namespace: bool,
    /// `--wait` (helm's watcher strategy). The recorded engine behaves like v4's default
    /// `hookOnly`: it waits for hooks only, and ignores this.
    pub wait: bool,
    /// `--take-ownership`: skip the ownership check of existing resources.
    pub take_ownership: bool,
    pub timeout: Duration,
}

impl InstallRequest {
    pub fn new(release: impl Into<String>, namespace: impl Into<String>, chart: impl Into<String>) -> Self {
        InstallRequest {
            release: release.into(),
            namespace: namespace.into(),
            chart: chart.into(),
            version: None,
            values_files: vec![],
            values: serde_json::Map::new(),
            set: vec![],
            render: None,
            create_namespace: false,
            wait: false,
            take_ownership: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for InstallRequest {
    // `--set` values may be passwords: show their keys only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set_keys: Vec<&str> = self.set.iter().map(|s| s.split_once('=').map_or(s.as_str(), |(k, _)| k)).collect();
        f.debug_struct("InstallRequest")
            .field("release", &self.release)
            .field("namespace", &self.namespace)
            .field("chart", &self.chart)
            .field("version", &self.version)
            .field("values_files", &self.values_files)
            .field("values_keys", &self.values.keys().collect::<Vec<_>>())
            .field("set_keys", &set_keys)
            .field("render", &self.render)
            .field("create_namespace", &self.create_namespace)
            .field("wait", &self.wait)
            .field("take_ownership", &self.take_ownership)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One object of a release manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceRef {
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped objects (and, from `HelmCli`, when unknown).
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Helm's "kept due to the resource policy" line format.
        write!(f, "[{}] {}", self.kind, self.name)
    }
}

/// What `helm status` / `helm list` tell about a release (never its values).
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseInfo {
    pub name: String,
    pub namespace: String,
    pub revision: u32,
    /// `deployed`, `failed`, `superseded`, `uninstalled`, `pending-install`, …
    pub status: String,
    pub chart_name: String,
    pub chart_version: String,
    pub app_version: Option<String>,
    pub description: String,
    pub first_deployed: Option<String>,
    pub last_deployed: Option<String>,
    /// Objects of the release manifest (empty when the engine cannot tell, e.g. `helm list`).
    pub resources: Vec<ResourceRef>,
    /// Which engine answered (`helm v3.22.0 (/usr/bin/helm)`, `recorded render <entry>`); empty when
    /// not told.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub engine: String,
}

impl ReleaseInfo {
    /// `helm list`'s CHART column: `<name>-<version>`.
    pub fn chart(&self) -> String {
        format!("{}-{}", self.chart_name, self.chart_version)
    }
}

/// `--cascade`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Cascade {
    #[default]
    Background,
    Foreground,
    Orphan,
}

impl Cascade {
    pub fn as_str(self) -> &'static str {
        match self {
            Cascade::Background => "background",
            Cascade::Foreground => "foreground",
            Cascade::Orphan => "orphan",
        }
    }
}

#[derive(Debug, Clone)]
pub struct UninstallOptions {
    pub keep_history: bool,
    pub cascade: Cascade,
    /// `--wait` (HelmCli only; the recorded engine, like v4's hookOnly, does not wait).
    pub wait: bool,
    pub timeout: Duration,
}

impl Default for UninstallOptions {
    fn default() -> Self {
        UninstallOptions { keep_history: false, cascade: Cascade::Background, wait: false, timeout: DEFAULT_TIMEOUT }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct UninstallReport {
    pub release: String,
    pub namespace: String,
    /// Manifest objects a DELETE was sent for (NotFound included).
    pub deleted: Vec<ResourceRef>,
    /// Manifest objects annotated `helm.sh/resource-policy: keep`.
    pub kept: Vec<ResourceRef>,
    /// `helm uninstall`'s output text.
    pub message: String,
    /// Which engine answered (see [`ReleaseInfo::engine`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub engine: String,
}

/// `release "<name>" uninstalled`, preceded by the kept-resources block as helm prints it.
pub fn uninstall_message(release: &str, kept: &[ResourceRef]) -> String {
    let mut m = String::new();
    if !kept.is_empty() {
        m.push_str("These resources were kept due to the resource policy:\n");
        for k in kept {
            m.push_str(&format!("{k}\n"));
        }
        m.push('\n');
    }
    m.push_str(&format!("release \"{release}\" uninstalled"));
    m
}

/// A Helm engine. Object-safe so callers can hold a `Box<dyn HelmEngine>` per provider.
pub trait HelmEngine: Send + Sync {
    fn install<'a>(&'a self, req: &'a InstallRequest) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>>;
    /// `helm upgrade [--install]`.
    fn upgrade<'a>(
        &'a self,
        req: &'a InstallRequest,
        install_if_missing: bool,
    ) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>>;
    fn uninstall<'a>(
        &'a self,
        release: &'a str,
        namespace: &'a str,
        opts: &'a UninstallOptions,
    ) -> BoxFuture<'a, Result<UninstallReport, HelmError>>;
    /// Releases (latest revision each) that are deployed or failed, as `helm list`;
    /// `None` = all namespaces.
    fn list<'a>(&'a self, namespace: Option<&'a str>) -> BoxFuture<'a, Result<Vec<ReleaseInfo>, HelmError>>;
    fn status<'a>(&'a self, release: &'a str, namespace: &'a str) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>>;
    /// The `helm` binary behind this engine, for actions only it can run (test, rollback, template).
    fn binary(&self) -> Option<&HelmCli> {
        None
    }
}
