//! A real Helm v4 engine (PyPI `helm-sdkpy`: Helm's Go library behind Python) installs,
//! upgrades, lists and uninstalls a chart against the embedded cluster. Helm stores its
//! releases as Secrets sent as protobuf, so this also exercises protobuf decoding.

mod common;

use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

fn helm(action: &str, kubeconfig: &std::path::Path, values: &str) -> (i32, String, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let chart = root.join("../fixtures/charts/cleanroom-demo");
    let out = Command::new("python3")
        .arg(root.join("tests/helm/helm_step.py"))
        .args([action, kubeconfig.to_str().unwrap(), "demo", "demo", chart.to_str().unwrap(), values])
        .output()
        .expect("python3 runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn require_helm_engine() {
    let ok = Command::new("python3").args(["-c", "import helm_sdkpy"]).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "the Helm engine is required: pip install --ignore-requires-python helm-sdkpy (.ci/run installs it)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_upgrade_list_uninstall() {
    require_helm_engine();
    let h = common::Harness::start().await;
    let client = h.sim.client();
    let kc = h.kubeconfig.clone();

    let (code, out, err) = tokio::task::spawn_blocking({ let kc = kc.clone(); move || helm("install", &kc, r#"{"greeting":"hi"}"#) }).await.unwrap();
    assert_eq!(code, 0, "helm install failed: {err}");
    let rel: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rel["info"]["status"], "deployed");

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "demo");
    assert_eq!(cms.get("demo-config").await.unwrap().data.unwrap()["greeting"], "hi");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "demo");
    let releases = secrets.list(&ListParams::default().labels("owner=helm,name=demo")).await.unwrap();
    assert_eq!(releases.items.len(), 1);
    let r = &releases.items[0];
    assert_eq!(r.metadata.name.as_deref(), Some("sh.helm.release.v1.demo.v1"));
    assert_eq!(r.type_.as_deref(), Some("helm.sh/release.v1"));
    assert_eq!(r.metadata.labels.as_ref().unwrap()["status"], "deployed");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("widgets.demo.cleanroom.dev").await.unwrap();
    assert!(crd.status.unwrap().conditions.unwrap().iter().any(|c| c.type_ == "Established" && c.status == "True"));
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("demo.cleanroom.dev", "v1", "Widget"), "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "demo", &ar);
    let w = widgets.get("demo-widget").await.unwrap();
    assert_eq!(w.metadata.annotations.as_ref().unwrap()["meta.helm.sh/release-name"], "demo");
    let hooks: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    assert!(hooks.get("demo-validate").await.is_ok());
    // The post-install hook Job ran to Complete (Helm waited for it) and was deleted by its
    // hook-succeeded policy.
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(client.clone(), "demo");
    assert!(jobs.get("demo-post-install").await.is_err(), "hook job must be gone after success");
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "demo");
    let evs = events.list(&ListParams::default()).await.unwrap();
    assert!(evs.items.iter().any(|e| e.involved_object.name.as_deref() == Some("demo-post-install") && e.reason.as_deref() == Some("Completed")),
        "the hook Job completed: {:?}", evs.items.iter().map(|e| (e.involved_object.name.clone(), e.reason.clone())).collect::<Vec<_>>());

    let (code, _, err) = tokio::task::spawn_blocking({ let kc = kc.clone(); move || helm("upgrade", &kc, r#"{"greeting":"upgraded","replicas":3}"#) }).await.unwrap();
    assert_eq!(code, 0, "helm upgrade failed: {err}");
    assert_eq!(cms.get("demo-config").await.unwrap().data.unwrap()["greeting"], "upgraded");
    assert_eq!(widgets.get("demo-widget").await.unwrap().data["spec"]["size"], 3);
    let v1 = secrets.get("sh.helm.release.v1.demo.v1").await.unwrap();
    assert_eq!(v1.metadata.labels.unwrap()["status"], "superseded");

    let (code, out, err) = tokio::task::spawn_blocking({ let kc = kc.clone(); move || helm("list", &kc, "{}") }).await.unwrap();
    assert_eq!(code, 0, "helm list failed: {err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["name"], "demo");
    assert_eq!(list[0]["version"], 2);

    let (code, _, err) = tokio::task::spawn_blocking({ let kc = kc.clone(); move || helm("uninstall", &kc, "{}") }).await.unwrap();
    assert_eq!(code, 0, "helm uninstall failed: {err}");
    assert!(cms.get("demo-config").await.is_err());
    assert!(widgets.get("demo-widget").await.is_err());
    assert!(hooks.get("demo-validate").await.is_err());
    assert!(secrets.list(&ListParams::default().labels("owner=helm")).await.unwrap().items.is_empty());
    // Helm never deletes CRDs from crds/.
    assert!(crds.get("widgets.demo.cleanroom.dev").await.is_ok());
}
