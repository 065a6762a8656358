//! The primitive catalogue. One module per family; every primitive is a typed argument struct that
//! implements [`Primitive`]. The same structs are the YAML format (via [`Action`]) and a Rust library.

pub mod assert;
pub mod cluster;
pub mod command;
mod context;
pub mod helm;
pub mod http;
pub mod manifests;
pub mod namespace;
pub mod node;
pub mod oracle;
pub mod purge;
pub mod release;
mod resolve;
pub mod sabotage;
pub mod wait;

use std::time::Duration;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use context::{Finding, StepContext};
pub use cleanroom_core::resources::{ObjRef, Resolved, dyn_api};
pub use crate::oracle::PurgeRecord;
pub use crate::providers::Capabilities;
pub(crate) mod ops;

/// What every primitive implements. A primitive may return a skip (with a reason) when the provider
/// cannot do it; a skip is never a pass.
pub trait Primitive: Send + Sync {
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>>;
    /// What the step does or waits for, in words (used in timeout errors and progress lines).
    fn describe(&self) -> String;
    /// True when the primitive enforces `ctx.step_timeout` itself (to clean up, e.g. kill a process
    /// group, and report what it saw); the runner then only adds a backstop.
    fn enforces_timeout(&self) -> bool {
        false
    }
}

/// The result of a step that did not fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepOutcome {
    /// One line of detail for reports ("applied 132 objects").
    pub detail: Option<String>,
    /// Set when the step was skipped, with the reason.
    pub skipped: Option<String>,
}

impl StepOutcome {
    pub fn done(detail: impl Into<String>) -> Self {
        StepOutcome { detail: Some(detail.into()), skipped: None }
    }
    pub fn skip(reason: impl Into<String>) -> Self {
        StepOutcome { detail: None, skipped: Some(reason.into()) }
    }
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{action}: {}", kube_message(source))]
    Kube { action: String, source: kube::Error },
    #[error("timed out after {} waiting for {waited_for}{}", cleanroom_core::duration::format_duration(*after), if observed.is_empty() { String::new() } else { format!(" (last seen: {observed})") })]
    Timeout { waited_for: String, after: Duration, observed: String },
    #[error("{0}")]
    Failed(String),
    #[error("{count} leftover object(s) differ from baseline `{baseline}`:\n{listing}")]
    Leftovers { baseline: String, count: usize, listing: String },
    #[error("interrupted")]
    Cancelled,
    /// The machine cannot run this step at all (a tool missing or too old): a failure even under
    /// `expect: fails`, which is about the chart or cluster, never about the tools.
    #[error("{0}")]
    Environment(String),
}

/// The API server's own words for API errors (`<message> (<reason>)`), the client's otherwise.
fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => other.to_string(),
    }
}

impl StepError {
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> StepError {
        let action = action.into();
        move |source| StepError::Kube { action, source }
    }
}

/// One entry of the catalogue (for hints, `cleanroom schema` and docs).
pub struct PrimitiveInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub args: &'static [&'static str],
}

macro_rules! catalogue {
    ($( $name:literal => $variant:ident($args:ty) [$($arg:literal),*] $summary:literal; )*) => {
        /// A step's primitive with its arguments: the YAML key is the primitive name.
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        pub enum Action {
            $(
                #[doc = $summary]
                #[serde(rename = $name)]
                $variant($args),
            )*
        }

        pub const PRIMITIVES: &[PrimitiveInfo] = &[
            $( PrimitiveInfo { name: $name, summary: $summary, args: &[$($arg),*] }, )*
        ];

        impl Action {
            pub fn primitive(&self) -> &dyn Primitive {
                match self { $( Action::$variant(a) => a, )* }
            }
            pub fn name(&self) -> &'static str {
                match self { $( Action::$variant(_) => $name, )* }
            }
        }
    };
}

catalogue! {
    "cluster.ensure" => ClusterEnsure(cluster::Ensure) [] "Check the cluster answers (version, namespaces).";
    "cluster.reset" => ClusterReset(cluster::Reset) ["baseline", "removeFinalizers"] "Delete everything added since a snapshot (default: the run's start).";
    "namespace.create" => NamespaceCreate(namespace::Create) ["name", "labels"] "Create (apply) a namespace.";
    "namespace.delete" => NamespaceDelete(namespace::Delete) ["name", "wait"] "Delete a namespace and wait until it is gone.";
    "manifests.apply" => ManifestsApply(manifests::Apply) ["file", "files", "inline", "objects", "namespace"] "Server-side apply manifests (files, inline YAML, objects); CRDs first.";
    "manifests.delete" => ManifestsDelete(manifests::Delete) ["file", "files", "inline", "objects", "namespace", "wait"] "Delete the objects of manifests, in reverse order.";
    "wait.pods-ready" => WaitPodsReady(wait::PodsReady) ["namespace", "selector", "count"] "Wait until pods matching a selector are Ready.";
    "wait.rollout" => WaitRollout(wait::Rollout) ["kind", "name", "namespace"] "Wait for a Deployment/StatefulSet/DaemonSet rollout to complete.";
    "wait.daemonset-per-node" => WaitDaemonSetPerNode(wait::DaemonSetPerNode) ["name", "namespace"] "Wait until a DaemonSet has one Ready pod on every eligible node.";
    "wait.deleted" => WaitDeleted(wait::Deleted) ["apiVersion", "kind", "name", "namespace"] "Wait until an object is gone.";
    "wait.pvc-bound" => WaitPvcBound(wait::PvcBound) ["name", "namespace"] "Wait until a PersistentVolumeClaim is Bound.";
    "wait.crd-established" => WaitCrdEstablished(wait::CrdEstablished) ["name"] "Wait until a CustomResourceDefinition is Established.";
    "wait.gc-discovery" => WaitGcDiscovery(wait::GcDiscovery) ["group"] "Wait until the garbage collector watches a group's custom resources (read from its graph on kwok; its 30 s resync where it cannot be read; at once on the embedded cluster).";
    "wait.condition" => WaitCondition(wait::ConditionWait) ["apiVersion", "kind", "name", "namespace", "type", "status"] "Wait until an object has a status condition.";
    "assert.exists" => AssertExists(assert::Exists) ["apiVersion", "kind", "name", "namespace", "selector", "match", "immediately"] "Assert an object exists (optionally partially matching).";
    "assert.absent" => AssertAbsent(assert::Absent) ["apiVersion", "kind", "name", "namespace", "selector", "match", "immediately"] "Assert no object matches.";
    "assert.count" => AssertCount(assert::Count) ["apiVersion", "kind", "namespace", "selector", "count", "min", "max", "immediately"] "Assert how many objects match a selector.";
    "assert.field" => AssertField(assert::Field) ["apiVersion", "kind", "name", "namespace", "path", "equals", "immediately"] "Assert one field of an object equals a value.";
    "purge.by-selector" => PurgeBySelector(purge::BySelector) ["kinds", "selector", "namespace", "wait"] "Delete objects matching a label selector across kinds.";
    "purge.crds" => PurgeCrds(purge::Crds) ["group", "wait"] "Delete every CRD of an API group.";
    "purge.released-pvs" => PurgeReleasedPvs(purge::ReleasedPvs) ["selector", "wait"] "Delete PersistentVolumes in phase Released.";
    "purge.remove-finalizers" => PurgeRemoveFinalizers(purge::RemoveFinalizers) ["apiVersion", "kind", "name", "namespace", "selector"] "Remove finalizers from objects (reported loudly).";
    "sabotage.pvc-missing-class" => SabotagePvc(sabotage::PvcMissingClass) ["name", "namespace", "storageClass", "labels"] "Plant a PVC naming a storage class that does not exist.";
    "sabotage.webhook-fail-closed" => SabotageWebhook(sabotage::WebhookFailClosed) ["name", "webhookType", "service", "serviceNamespace", "resources", "labels"] "Plant a webhook configuration with failurePolicy Fail pointing at a missing service.";
    "sabotage.orphan-crd" => SabotageCrd(sabotage::OrphanCrd) ["group", "kind", "labels"] "Plant a CRD nothing owns.";
    "sabotage.stale-statefulset" => SabotageStatefulSet(sabotage::StaleStatefulSet) ["name", "namespace", "labels"] "Plant a StatefulSet left from an earlier install.";
    "sabotage.stale-clusterrole" => SabotageClusterRole(sabotage::StaleClusterRole) ["name", "labels"] "Plant a ClusterRole left from an earlier install.";
    "sabotage.released-pv" => SabotagePv(sabotage::ReleasedPv) ["name", "storageClass", "labels"] "Plant a PersistentVolume in phase Released.";
    "oracle.snapshot" => OracleSnapshot(oracle::Snapshot) ["name"] "Take an inventory of every object in the cluster.";
    "oracle.assert-clean" => OracleAssertClean(oracle::AssertClean) ["baseline", "ignore", "defaultChurn", "settle"] "Fail when objects were added or changed since a snapshot, with the likely reason for each.";
    "helm.install" => HelmInstall(helm::Install) ["release", "chart", "namespace", "version", "valuesFiles", "values", "set", "createNamespace", "wait"] "Install a Helm chart through the engine `--helm` picks (a recorded render that matches exactly, else the helm binary).";
    "helm.upgrade" => HelmUpgrade(helm::Upgrade) ["release", "chart", "namespace", "version", "valuesFiles", "values", "set", "createNamespace", "wait", "install", "expectUnchanged"] "Upgrade a release with new values (change the values file; never edit objects).";
    "helm.test" => HelmTest(release::Test) ["release", "namespace"] "Run a release's test hooks (`helm test`); fails naming each test that did not succeed.";
    "helm.rollback" => HelmRollback(release::Rollback) ["release", "namespace", "revision", "wait"] "Roll a release back to a revision (default: the previous one).";
    "helm.template" => HelmTemplate(release::Template) ["release", "chart", "namespace", "version", "valuesFiles", "values", "set", "out"] "Render a chart with `helm template --include-crds` (no cluster change); `out` keeps the render.";
    "helm.repo-add" => HelmRepoAdd(release::RepoAdd) ["name", "url"] "Add (or update) a chart repository (`helm repo add --force-update`).";
    "assert.release" => AssertRelease(release::AssertRelease) ["release", "namespace", "status", "revision", "chartVersion", "values"] "Assert a release's status, revision, chart version and a subset of its computed values.";
    "wait.release" => WaitRelease(release::WaitRelease) ["release", "namespace"] "Wait until every Deployment/StatefulSet/DaemonSet of a release is rolled out and its Jobs are complete.";
    "helm.uninstall" => HelmUninstall(helm::Uninstall) ["release", "namespace", "wait", "keepHistory", "cascade", "ignoreNotFound"] "Uninstall a Helm release (manifest objects only, as helm does).";
    "http.get" => HttpGet(http::Get) ["service", "namespace", "port", "path", "basicAuth", "expectStatus"] "GET a path on a Service's Ready pod via port-forward (skipped on the embedded cluster: no processes answer).";
    "node.cordon" => NodeCordon(node::Cordon) ["node"] "Cordon a node (needs the nodes capability).";
    "node.uncordon" => NodeUncordon(node::Uncordon) ["node"] "Uncordon a node (needs the nodes capability).";
    "node.drain" => NodeDrain(node::Drain) ["node", "ignoreDaemonsets", "timeout"] "Drain a node: cordon, evict its pods honouring PDBs, wait until they are gone.";
    "node.restart-kubelet" => NodeRestartKubelet(node::RestartKubelet) ["node"] "Restart a node's kubelet and wait for its healthz (on kind running containers keep running: KillMode=process).";
    "node.restart-runtime" => NodeRestartRuntime(node::RestartRuntime) ["node"] "Restart a node's container runtime and wait for it and the kubelet (on kind running containers keep running).";
    "node.prune-images" => NodePruneImages(node::PruneImages) ["node"] "Remove images no container uses that were pulled during the run (kind's preloaded and loaded images stay).";
    "node.remove-path" => NodeRemovePath(node::RemovePath) ["node", "path"] "Remove a node path below the kubelet pod, pod log or local-path dirs (never elsewhere).";
    "node.assert-clean" => NodeAssertClean(node::AssertClean) ["nodes", "gcGrace"] "Fail when nodes hold mounts, logs or volume dirs of pods/PVs that no longer exist, with the reason for each (logs the kubelet's GC will still remove are pending, not leftovers).";
    "node.cleanup" => NodeCleanup(node::Cleanup) ["nodes"] "Unmount and remove exactly the node-level leftovers node.assert-clean reports.";
    "sabotage.zombie-mount" => SabotageZombieMount(node::ZombieMount) ["node", "podUid", "volume"] "Plant a volume mount and dir of a pod uid that does not exist (a kubelet that died mid-teardown).";
    "sabotage.orphan-pod-logs" => SabotageOrphanPodLogs(node::OrphanPodLogs) ["node", "namespace", "pod"] "Plant /var/log/pods logs (and link) of a pod that does not exist.";
    "kubectl" => Kubectl(command::Kubectl) ["args", "exitCode", "stdout", "stderr", "procedure"] "Run kubectl against the scenario's cluster (its kubeconfig and context); output captured, redacted.";
    "script" => Script(command::Script) ["run", "shell", "exitCode", "stdout", "stderr", "procedure"] "Run a shell script with KUBECONFIG of the scenario's cluster and the variables as environment.";
    "finding" => Finding(command::FindingNote) ["text"] "Record a finding (what the run learned that is not a pass/fail) in the report.";
}

impl Action {
    /// Short text for reports when a step has no name: `namespace.create demo`.
    pub fn summary(&self) -> String {
        match self {
            Action::Kubectl(k) => return format!("kubectl {}", k.args.join(" ")),
            Action::Script(s) => return format!("script {}", command::first_line(&s.run, 80)),
            _ => {}
        }
        let v = serde_json::to_value(self).unwrap_or_default();
        let args = v.get(self.name()).cloned().unwrap_or_default();
        let main = ["name", "file", "release", "service", "selector", "group", "baseline", "kind", "node"]
            .iter()
            .find_map(|k| args.get(*k).and_then(|x| x.as_str()).map(str::to_string));
        match main {
            Some(m) => format!("{} {m}", self.name()),
            None => self.name().to_string(),
        }
    }

    /// Semantic checks that serde cannot express (run at parse time).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Action::ManifestsApply(a) if a.0.wait.is_some() => Err("`wait` is an argument of manifests.delete only".into()),
            Action::ManifestsApply(a) => a.0.validate(),
            Action::ManifestsDelete(a) => a.0.validate(),
            Action::AssertCount(a) => a.validate(),
            Action::PurgeBySelector(a) => a.validate(),
            Action::WaitRollout(a) => a.validate(),
            Action::Kubectl(a) => a.validate(),
            Action::Script(a) => a.validate(),
            _ => Ok(()),
        }
    }
}
