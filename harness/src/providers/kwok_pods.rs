//! Pods that really run on kwok. kwok simulates every pod — Running and Ready through its stages, no
//! container started — which is faithful for workloads, but leaves a chart's *operator* idle: nothing
//! would make the StatefulSets a `Prometheus` resource asks for. For an image in [`BACKED`] whose binary
//! was built (`ci/tools.sh prometheus-operator`), the pod's container runs as a process on this machine
//! while the pod is Running: with the pod's own arguments, minus those that need the pod's files or
//! network (its web server's TLS files and port), plus the API server's address and credentials from
//! the cluster's kubeconfig. It stops when the pod stops running or is deleted, and with the cluster.
//!
//! Without the binary the pod stays simulated only; the first such pod is reported once (a warning and
//! the run's findings), naming the command that builds it.
//!
//! kube-webhook-certgen (the admission hook Jobs of charts like kube-prometheus-stack) has no Go module
//! the proxy serves, so its two commands are emulated instead, by the same code the embedded cluster
//! uses ([`cleanroom_sim::operators::certgen`]): `create` stores the Secret, `patch` puts its CA into the
//! webhook configurations — through this cluster's API, once per pod, in the order the pods start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;

use super::process::{Background, ToolCall};

/// An image whose pods run as a local process: the repository (without registry and tag), the tool
/// that runs it, and how its container's arguments become the process's.
pub struct Backed {
    pub repository: &'static str,
    pub tool: &'static str,
    pub args: fn(&[String]) -> Vec<String>,
}

pub const BACKED: &[Backed] =
    &[Backed { repository: "prometheus-operator/prometheus-operator", tool: "prometheus-operator", args: operator_args }];

/// prometheus-operator's arguments off the pod: its `--web.*` server would listen on the pod's port with
/// TLS files from a Secret volume; here it listens on a free loopback port without TLS (nothing in the
/// cluster can reach it either way: kwok pods have no network).
pub fn operator_args(pod_args: &[String]) -> Vec<String> {
    let mut args: Vec<String> = pod_args.iter().filter(|a| !a.starts_with("--web.")).cloned().collect();
    args.push("--web.listen-address=127.0.0.1:0".into());
    args
}

/// The backing for `image` (`registry/repo/name:tag@digest`), if any.
pub fn backing_for(image: &str) -> Option<&'static Backed> {
    let without_digest = image.split('@').next().unwrap_or(image);
    // A tag follows the last `:` after the last `/` (a registry may have a port).
    let repo = match without_digest.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => without_digest,
    };
    BACKED.iter().find(|b| repo == b.repository || repo.ends_with(&format!("/{}", b.repository)))
}

/// `--apiserver`, `--ca-file`, `--cert-file`, `--key-file` for the current context of `kubeconfig`
/// (data fields are written as files under `dir`).
pub fn api_flags(kubeconfig: &Path, dir: &Path) -> Result<Vec<String>, String> {
    use secrecy::ExposeSecret;
    let k = kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    let ctx_name = k.current_context.clone().unwrap_or_default();
    let ctx = k.contexts.iter().find(|c| c.name == ctx_name).or(k.contexts.first()).and_then(|c| c.context.clone());
    let cluster_name = ctx.as_ref().map(|c| c.cluster.clone());
    let user_name = ctx.as_ref().and_then(|c| c.user.clone());
    let cluster = k.clusters.iter().find(|c| Some(&c.name) == cluster_name.as_ref()).or(k.clusters.first()).and_then(|c| c.cluster.clone());
    let cluster = cluster.ok_or_else(|| format!("{}: no cluster", kubeconfig.display()))?;
    let user = k.auth_infos.iter().find(|u| Some(&u.name) == user_name.as_ref()).or(k.auth_infos.first()).and_then(|u| u.auth_info.clone());
    let server = cluster.server.ok_or_else(|| format!("{}: the cluster has no server", kubeconfig.display()))?;
    let file = |path: Option<String>, data: Option<String>, name: &str| -> Result<Option<String>, String> {
        if let Some(p) = path {
            return Ok(Some(p));
        }
        let Some(d) = data else { return Ok(None) };
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(d.trim()).map_err(|e| format!("{}: {name}: {e}", kubeconfig.display()))?;
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(Some(p.display().to_string()))
    };
    let mut flags = vec![format!("--apiserver={server}")];
    if let Some(ca) = file(cluster.certificate_authority, cluster.certificate_authority_data, "ca.crt")? {
        flags.push(format!("--ca-file={ca}"));
    }
    if let Some(u) = user {
        let key_data = u.client_key_data.map(|s| s.expose_secret().to_string());
        if let Some(c) = file(u.client_certificate, u.client_certificate_data, "client.crt")? {
            flags.push(format!("--cert-file={c}"));
        }
        if let Some(k) = file(u.client_key, key_data, "client.key")? {
            flags.push(format!("--key-file={k}"));
        }
    }
    Ok(flags)
}

/// Called with the pids of the pods' processes whenever they change (for the run journal).
pub type OnPids = Arc<dyn Fn(&[i32]) + Send + Sync>;

/// The running processes by pod (`namespace/name`), and what could not run.
#[derive(Default)]
struct State {
    running: BTreeMap<String, (String, Background)>,
    /// Tools whose pods stay simulated only (reported once each).
    missing: Vec<String>,
    /// Pods whose emulated command ran (by uid).
    emulated: std::collections::BTreeSet<String>,
    notes: Vec<String>,
}

/// Runs the processes of backed pods for one cluster until [`PodProcesses::stop`].
pub struct PodProcesses {
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl PodProcesses {
    /// Watch the cluster's pods; `tools` maps a tool name to its binary (a tool not in it leaves its pods
    /// simulated only); logs go to `<dir>/<tool>-<namespace>-<pod>.log`.
    pub fn start(client: kube::Client, kubeconfig: PathBuf, dir: PathBuf, tools: BTreeMap<String, PathBuf>, on_pids: OnPids) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let stream = watcher::watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()).default_backoff();
            futures::pin_mut!(stream);
            while let Some(ev) = stream.next().await {
                let pods: Vec<(Pod, bool)> = match ev {
                    Ok(Event::Apply(p) | Event::InitApply(p)) => vec![(p, true)],
                    Ok(Event::Delete(p)) => vec![(p, false)],
                    _ => continue,
                };
                for (pod, present) in pods {
                    reconcile(&shared, &client, &pod, present, &kubeconfig, &dir, &tools, &on_pids).await;
                }
            }
        });
        PodProcesses { state, task }
    }

    /// Stop watching and stop every process (SIGTERM, then SIGKILL).
    pub async fn stop(self) {
        self.task.abort();
        let running: Vec<Background> = std::mem::take(&mut self.state.lock().expect("pods").running).into_values().map(|(_, b)| b).collect();
        for b in running {
            b.stop().await;
        }
    }

    /// Leave the processes running (`--keep`); their pids.
    pub fn detach(self) -> Vec<u32> {
        self.task.abort();
        let running = std::mem::take(&mut self.state.lock().expect("pods").running);
        running.into_values().filter_map(|(_, b)| b.detach()).collect()
    }

    /// What happened worth a finding (a pod left simulated for want of its binary, a process that
    /// could not start), each once; drained.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().expect("pods").notes)
    }

    /// The pids of the running processes.
    pub fn pids(&self) -> Vec<i32> {
        pids(&self.state.lock().expect("pods"))
    }
}

fn pids(s: &State) -> Vec<i32> {
    s.running.values().filter_map(|(_, b)| b.pid()).map(|p| p as i32).collect()
}

/// Start the pod's process when it runs and has none; stop it when the pod is gone, terminating or no
/// longer Running.
#[allow(clippy::too_many_arguments)]
async fn reconcile(
    state: &Mutex<State>,
    client: &kube::Client,
    pod: &Pod,
    present: bool,
    kubeconfig: &Path,
    dir: &Path,
    tools: &BTreeMap<String, PathBuf>,
    on_pids: &OnPids,
) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let key = format!("{ns}/{name}");
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let running = present
        && pod.metadata.deletion_timestamp.is_none()
        && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    if present && emulate_certgen(state, pod, &ns, &uid, client).await {
        return;
    }
    let container = pod.spec.as_ref().and_then(|s| s.containers.iter().find_map(|c| Some((c, backing_for(c.image.as_deref()?)?))));
    let stale = {
        let mut s = state.lock().expect("pods");
        match s.running.get(&key) {
            Some((u, _)) if !running || *u != uid => s.running.remove(&key).map(|(_, b)| b),
            _ => None,
        }
    };
    if let Some(b) = stale {
        b.stop().await;
        on_pids(&pids(&state.lock().expect("pods")));
    }
    let Some((c, backed)) = container.filter(|_| running) else { return };
    let mut s = state.lock().expect("pods");
    if s.running.contains_key(&key) {
        return;
    }
    let Some(binary) = tools.get(backed.tool) else {
        if !s.missing.iter().any(|t| t == backed.tool) {
            s.missing.push(backed.tool.to_string());
            let note = format!(
                "pod {key} runs {} on kwok as a simulated pod only: its controller does nothing (build `{}` with `ci/tools.sh {}` to run it for real)",
                c.image.as_deref().unwrap_or_default(),
                backed.tool,
                backed.tool
            );
            eprintln!("warning: {note}");
            s.notes.push(note);
        }
        return;
    };
    let mut args = (backed.args)(c.args.as_deref().unwrap_or_default());
    match api_flags(kubeconfig, dir) {
        Ok(flags) => args.extend(flags),
        Err(e) => {
            s.notes.push(format!("pod {key}: {} not started: {e}", backed.tool));
            return;
        }
    }
    let log = dir.join(format!("{}-{ns}-{name}.log", backed.tool));
    match Background::start(&ToolCall::new(binary, args), &log) {
        Ok(b) => {
            s.running.insert(key, (uid, b));
            on_pids(&pids(&s));
        }
        Err(e) => s.notes.push(format!("pod {key}: {e}")),
    }
}

/// Run a certgen pod's command once, when the pod has started (Running, or already Succeeded: kwok
/// completes Job pods at once). True when the pod is a certgen pod (nothing else to do for it).
async fn emulate_certgen(state: &Mutex<State>, pod: &Pod, ns: &str, uid: &str, client: &kube::Client) -> bool {
    use cleanroom_sim::operators::certgen;
    let Ok(value) = serde_json::to_value(pod) else { return false };
    let Some(args) = certgen::certgen_args(&value) else { return false };
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if !matches!(phase, Some("Running" | "Succeeded")) {
        return true;
    }
    {
        let mut s = state.lock().expect("pods");
        if !s.emulated.insert(uid.to_string()) {
            return true;
        }
        if s.emulated.len() == 1 {
            s.notes.push(format!(
                "{} pods are emulated on kwok (create the Secret, patch the webhooks' CA), as on the embedded cluster: its Go module is not served here",
                certgen::IMAGE
            ));
        }
    }
    let result = match certgen::action(&args, ns) {
        Some(certgen::Action::Create { secret }) => certgen_create(client, secret).await,
        Some(certgen::Action::Patch { namespace, secret, webhook, kinds, fail }) => certgen_patch(client, &namespace, &secret, &webhook, &kinds, fail).await,
        None => Ok(()),
    };
    if let Err(e) = result {
        state.lock().expect("pods").notes.push(format!("{} in pod {ns}/{}: {e}", certgen::IMAGE, pod.metadata.name.as_deref().unwrap_or_default()));
    }
    true
}

async fn certgen_create(client: &kube::Client, secret: serde_json::Value) -> Result<(), kube::Error> {
    use k8s_openapi::api::core::v1::Secret;
    let secret: Secret = serde_json::from_value(secret).map_err(kube::Error::SerdeError)?;
    let ns = secret.metadata.namespace.clone().unwrap_or_default();
    let pp = kube::api::PostParams { field_manager: Some(cleanroom_sim::operators::certgen::MANAGER.into()), ..Default::default() };
    match Api::<Secret>::namespaced(client.clone(), &ns).create(&pp, &secret).await {
        // "secret already exists": certgen leaves it alone.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        r => r.map(|_| ()),
    }
}

async fn certgen_patch(client: &kube::Client, ns: &str, secret: &str, webhook: &str, kinds: &[(&str, &str)], fail: bool) -> Result<(), kube::Error> {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
    let s = Api::<Secret>::namespaced(client.clone(), ns).get(secret).await?;
    let Some(ca) = s.data.as_ref().and_then(|d| d.get("ca.crt")) else { return Ok(()) };
    let ca = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &ca.0);
    let pp = PatchParams::apply(cleanroom_sim::operators::certgen::MANAGER).force();
    for (plural, kind) in kinds {
        let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind), plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let Some(cur) = api.get_opt(webhook).await? else { continue };
        let cur = serde_json::to_value(&cur).map_err(kube::Error::SerdeError)?;
        let apply = cleanroom_sim::operators::certgen::webhook_apply(kind, &cur, &ca, fail);
        api.patch(webhook, &pp, &Patch::Apply(apply)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_matched_by_repository() {
        for image in [
            "quay.io/prometheus-operator/prometheus-operator:v0.93.1",
            "prometheus-operator/prometheus-operator",
            "registry.local:5000/prometheus-operator/prometheus-operator:v1@sha256:abc",
        ] {
            assert_eq!(backing_for(image).map(|b| b.tool), Some("prometheus-operator"), "{image}");
        }
        for image in ["quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1", "quay.io/prometheus/prometheus:v3", "x-prometheus-operator/prometheus-operator"] {
            assert!(backing_for(image).is_none(), "{image}");
        }
    }

    #[test]
    fn operator_keeps_its_arguments_but_not_its_web_server() {
        let pod: Vec<String> = [
            "--kubelet-service=kube-system/prometheus-stack-kube-prom-kubelet",
            "--localhost=127.0.0.1",
            "--web.enable-tls=true",
            "--web.cert-file=/cert/cert",
            "--web.listen-address=:10250",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            operator_args(&pod),
            ["--kubelet-service=kube-system/prometheus-stack-kube-prom-kubelet", "--localhost=127.0.0.1", "--web.listen-address=127.0.0.1:0"]
        );
    }

    #[test]
    fn api_flags_come_from_the_current_context() {
        let dir = tempfile::tempdir().unwrap();
        let kc = dir.path().join("kubeconfig");
        std::fs::write(
            &kc,
            "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: a\n  cluster: {server: https://127.0.0.1:1}\n\
             - name: b\n  cluster: {server: https://127.0.0.1:2, certificate-authority: /pki/ca.crt}\n\
             users:\n- name: b\n  user: {client-certificate: /pki/admin.crt, client-key-data: a2V5}\n\
             contexts:\n- name: a\n  context: {cluster: a, user: b}\n- name: b\n  context: {cluster: b, user: b}\n",
        )
        .unwrap();
        let flags = api_flags(&kc, dir.path()).unwrap();
        let key = dir.path().join("client.key");
        assert_eq!(
            flags,
            [
                "--apiserver=https://127.0.0.1:2".to_string(),
                "--ca-file=/pki/ca.crt".into(),
                "--cert-file=/pki/admin.crt".into(),
                format!("--key-file={}", key.display())
            ]
        );
        assert_eq!(std::fs::read_to_string(key).unwrap(), "key");
    }
}
