//! The recorded-render Helm engine against the embedded cluster: install / reinstall / upgrade /
//! uninstall of kube-prometheus-stack 88.5.3, and the ownership conflict.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cleanroom::helm::{
    Failure, HelmEngine, HelmError, InstallRequest, RecordedRenderEngine, RenderCatalog, ResourceRef, UninstallOptions,
    decode_release, parse_render,
};
use cleanroom_sim::{SimCluster, SimOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::json;

const NS: &str = "monitoring";
const RELEASE: &str = "prometheus-stack";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn engine(client: &kube::Client) -> RecordedRenderEngine {
    let catalog = RenderCatalog::load(&fixtures().join("renders.yaml")).expect("catalogue");
    RecordedRenderEngine::with_catalog(client.clone(), catalog)
}

fn storage_request() -> InstallRequest {
    let mut req = InstallRequest::new(RELEASE, NS, "prometheus-community/kube-prometheus-stack");
    req.version = Some("88.5.3".into());
    req.values_files = vec![fixtures().join("kube-prometheus-stack/values/storage.yaml")];
    req.timeout = Duration::from_secs(120);
    req
}

fn no_storage_request() -> InstallRequest {
    let mut req = storage_request();
    let set = std::fs::read_to_string(fixtures().join("kube-prometheus-stack/values/no-storage-set.txt")).unwrap();
    req.set = set.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
    req
}

async fn cluster() -> (SimCluster, kube::Client) {
    let sim = SimCluster::start(SimOptions::default()).await.expect("embedded cluster");
    let client = sim.client();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace");
    (sim, client)
}

async fn get(client: &kube::Client, r: &ResourceRef) -> Option<DynamicObject> {
    let (group, version) = r.api_version.split_once('/').unwrap_or(("", &r.api_version));
    let gvk = GroupVersionKind::gvk(group, version, &r.kind);
    let Ok((ar, _)) = kube::discovery::pinned_kind(client, &gvk).await else { return None };
    let api: Api<DynamicObject> = match &r.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.get_opt(&r.name).await.expect("get")
}

async fn release_secrets(client: &kube::Client) -> Vec<Secret> {
    Api::<Secret>::namespaced(client.clone(), NS).list(&ListParams::default().labels("owner=helm")).await.unwrap().items
}

async fn monitoring_crds(client: &kube::Client) -> Vec<CustomResourceDefinition> {
    let all = Api::<CustomResourceDefinition>::all(client.clone()).list(&ListParams::default()).await.unwrap().items;
    all.into_iter().filter(|c| c.spec.group == "monitoring.coreos.com").collect()
}

#[test]
fn recorded_render_layout() {
    let text = std::fs::read_to_string(fixtures().join("kube-prometheus-stack/rendered/storage.yaml")).unwrap();
    let r = parse_render(&text).unwrap();
    assert_eq!((r.crds.len(), r.templates.len(), r.hooks.len()), (10, 115, 7));
    let chart = r.chart.clone().unwrap();
    assert_eq!((chart.name.as_str(), chart.version.as_str()), ("kube-prometheus-stack", "88.5.3"));
    // The recorded templates are already in Helm's install order; sorting keeps them as they are.
    let sorted: Vec<_> = r.templates_in_install_order().iter().map(|d| (d.kind(), d.name())).collect();
    let recorded: Vec<_> = r.templates.iter().map(|d| (d.kind(), d.name())).collect();
    assert_eq!(sorted, recorded);
    let kinds: Vec<_> = r.templates.iter().map(|d| d.kind()).collect();
    let last_known = kinds.iter().rposition(|k| *k == "ValidatingWebhookConfiguration").unwrap();
    assert_eq!(kinds[last_known + 1], "Alertmanager");
    assert_eq!(*kinds.last().unwrap(), "ServiceMonitor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_reinstall_upgrade_uninstall() {
    let (sim, client) = cluster().await;
    let helm = engine(&client);

    let info = helm.install(&storage_request()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((info.revision, info.status.as_str()), (1, "deployed"));
    assert_eq!(info.chart(), "kube-prometheus-stack-88.5.3");
    assert_eq!(info.app_version.as_deref(), Some("v0.93.1"));
    assert_eq!(info.resources.len(), 115);

    // Release secret v1, as Helm's Secrets driver writes it.
    let secrets = release_secrets(&client).await;
    assert_eq!(secrets.len(), 1);
    let s = &secrets[0];
    assert_eq!(s.metadata.name.as_deref(), Some("sh.helm.release.v1.prometheus-stack.v1"));
    assert_eq!(s.type_.as_deref(), Some("helm.sh/release.v1"));
    let labels = s.metadata.labels.clone().unwrap();
    for (k, v) in [("name", RELEASE), ("owner", "helm"), ("status", "deployed"), ("version", "1")] {
        assert_eq!(labels.get(k).map(String::as_str), Some(v), "label {k}");
    }
    assert!(labels["modifiedAt"].parse::<i64>().is_ok(), "{labels:?}");
    let rec = decode_release(&s.data.as_ref().unwrap()["release"].0).unwrap();
    assert_eq!((rec.name.as_str(), rec.namespace.as_str(), rec.version), (RELEASE, NS, 1));
    assert_eq!(rec.info.description, "Install complete");
    assert!(rec.info.first_deployed.is_some() && rec.info.last_deployed.is_some());
    assert_eq!(rec.chart["metadata"]["appVersion"], "v0.93.1");
    assert!(
        rec.manifest.starts_with("---\n# Source: kube-prometheus-stack/charts/grafana/templates/serviceaccount.yaml\n")
    );
    assert!(!rec.manifest.contains("CustomResourceDefinition"));
    assert_eq!(rec.hooks.len(), 7);
    assert!(rec.hooks.iter().all(|h| h.last_run.phase == "Succeeded"), "{:?}", rec.hooks);
    assert_eq!(rec.config["grafana"]["service"]["nodePort"], 30000);

    // CRDs: raw, Established.
    let crds = monitoring_crds(&client).await;
    assert_eq!(crds.len(), 10);
    for c in &crds {
        let established = c
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
        assert!(established, "{:?}", c.metadata.name);
        let ann = c.metadata.annotations.clone().unwrap_or_default();
        assert!(!ann.keys().any(|k| k.starts_with("meta.helm.sh/")), "{:?}", c.metadata.name);
        assert!(!c.metadata.labels.clone().unwrap_or_default().contains_key("app.kubernetes.io/managed-by"));
    }

    // Every manifest object exists and carries Helm's ownership metadata.
    for r in &info.resources {
        let obj = get(&client, r).await.unwrap_or_else(|| panic!("{r:?} missing"));
        let labels = obj.metadata.labels.unwrap_or_default();
        let ann = obj.metadata.annotations.unwrap_or_default();
        assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("Helm"), "{r:?}");
        assert_eq!(ann.get("meta.helm.sh/release-name").map(String::as_str), Some(RELEASE), "{r:?}");
        assert_eq!(ann.get("meta.helm.sh/release-namespace").map(String::as_str), Some(NS), "{r:?}");
    }

    // Hooks ran and were deleted (hook-succeeded); the certgen Secret is not ours to create.
    let jobs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NS,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::batch::v1::Job>(&()),
    );
    for j in ["prometheus-stack-kube-prom-admission-create", "prometheus-stack-kube-prom-admission-patch"] {
        assert!(jobs.get_opt(j).await.unwrap().is_none(), "hook job {j} left behind");
    }
    let sa = ResourceRef {
        api_version: "v1".into(),
        kind: "ServiceAccount".into(),
        namespace: Some(NS.into()),
        name: "prometheus-stack-kube-prom-admission".into(),
    };
    assert!(get(&client, &sa).await.is_none(), "hook ServiceAccount left behind");
    let certgen =
        Api::<Secret>::namespaced(client.clone(), NS).get_opt("prometheus-stack-kube-prom-admission").await.unwrap();
    if let Some(c) = certgen {
        assert!(!c.metadata.labels.unwrap_or_default().contains_key("app.kubernetes.io/managed-by"));
    }

    // Install again: the name is taken.
    let err = helm.install(&storage_request()).await.unwrap_err();
    assert_eq!(err.to_string(), "INSTALLATION FAILED: cannot reuse a name that is still in use");

    // Upgrade to the no-storage render: revision 2 deployed, v1 superseded.
    let up = helm.upgrade(&no_storage_request(), false).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((up.revision, up.status.as_str(), up.description.as_str()), (2, "deployed", "Upgrade complete"));
    let prom = ResourceRef {
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "Prometheus".into(),
        namespace: Some(NS.into()),
        name: "prometheus-stack-kube-prom-prometheus".into(),
    };
    let p = get(&client, &prom).await.expect("Prometheus CR");
    assert_eq!(p.data["spec"]["storage"]["emptyDir"], json!({"medium": ""}));
    let mut by_version: Vec<(String, String)> = release_secrets(&client)
        .await
        .iter()
        .map(|s| {
            let l = s.metadata.labels.clone().unwrap();
            (l["version"].clone(), l["status"].clone())
        })
        .collect();
    by_version.sort();
    assert_eq!(by_version, [("1".into(), "superseded".into()), ("2".into(), "deployed".into())]);
    let listed = helm.list(Some(NS)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].revision, 2);
    let st = helm.status(RELEASE, NS).await.unwrap();
    assert_eq!((st.revision, st.resources.len()), (2, 115));

    let err = helm
        .upgrade(
            &{
                let mut r = storage_request();
                r.release = "absent".into();
                r
            },
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "UPGRADE FAILED: \"absent\" has no deployed releases");

    // Uninstall: the manifest goes, CRDs and nothing else stay, the history is deleted.
    let report = helm.uninstall(RELEASE, NS, &UninstallOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.kept.is_empty());
    assert_eq!(report.deleted.len(), 115);
    assert_eq!(report.message, "release \"prometheus-stack\" uninstalled");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut left = vec![];
        for r in &info.resources {
            if get(&client, r).await.is_some() {
                left.push(format!("{} {}", r.kind, r.name));
            }
        }
        if left.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "left after uninstall: {left:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(monitoring_crds(&client).await.len(), 10);
    assert!(release_secrets(&client).await.is_empty());
    assert!(matches!(helm.status(RELEASE, NS).await, Err(HelmError::Query(Failure::NotFound))));
    let err = helm.uninstall(RELEASE, NS, &UninstallOptions::default()).await.unwrap_err();
    assert_eq!(err.to_string(), "uninstall: Release not loaded: prometheus-stack: release: not found");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_object_without_helm_metadata_blocks_install() {
    let (sim, client) = cluster().await;
    // Two conflicts; Helm reports the first in install order (ConfigMap before Service).
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "prometheus-stack-grafana", "namespace": NS},
        "spec": {"ports": [{"port": 80}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), NS).create(&PostParams::default(), &svc).await.unwrap();
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "prometheus-stack-grafana", "namespace": NS}})).unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), NS).create(&PostParams::default(), &cm).await.unwrap();

    let err = engine(&client).install(&storage_request()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "INSTALLATION FAILED: unable to continue with install: ConfigMap \"prometheus-stack-grafana\" in namespace \"monitoring\" exists and cannot be imported into the current release: invalid ownership metadata; label validation error: missing key \"app.kubernetes.io/managed-by\": must be set to \"Helm\"; annotation validation error: missing key \"meta.helm.sh/release-name\": must be set to \"prometheus-stack\"; annotation validation error: missing key \"meta.helm.sh/release-namespace\": must be set to \"monitoring\""
    );
    // Nothing was recorded and nothing of the manifest was created; the CRDs were (Helm installs them first).
    assert!(release_secrets(&client).await.is_empty());
    let sa = ResourceRef {
        api_version: "v1".into(),
        kind: "ServiceAccount".into(),
        namespace: Some(NS.into()),
        name: "prometheus-stack-grafana".into(),
    };
    assert!(get(&client, &sa).await.is_none());
    assert_eq!(monitoring_crds(&client).await.len(), 10);

    // An unknown values combination names the recorded renders.
    let mut req = storage_request();
    req.set = vec!["grafana.adminPassword=s3cret".into()];
    let err = engine(&client).install(&req).await.unwrap_err().to_string();
    assert!(
        err.contains("no recorded render") && err.contains("kube-prometheus-stack/storage") && !err.contains("s3cret"),
        "{err}"
    );
    sim.shutdown().await;
}
