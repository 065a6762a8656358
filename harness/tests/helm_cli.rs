//! The real `helm` CLI (v3 and v4, built by `ci/tools.sh`) against the embedded cluster's kubeconfig:
//! install / list / status / upgrade / uninstall of the demo chart through [`HelmCli`].

mod common;

use std::time::Duration;

use cleanroom::helm::{HelmCli, HelmEngine, InstallRequest, UninstallOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};

async fn lifecycle(name: &str, bin: &std::path::Path) {
    let sim = common::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let helm = HelmCli::new(Some(kc), None).with_binary(bin);
    let v = helm.version().await.unwrap();
    assert_eq!(v.major, if name == "helm3" { 3 } else { 4 }, "{name}: {v}");

    let mut req = InstallRequest::new("demo", "demo", common::helm_bins::demo_chart().display().to_string());
    req.create_namespace = true;
    req.wait = true;
    req.set = vec!["greeting=hi".into()];
    req.timeout = Duration::from_secs(60);
    let info = helm.install(&req).await.unwrap_or_else(|e| panic!("{name} install: {e}"));
    assert_eq!((info.status.as_str(), info.revision, info.chart_name.as_str(), info.chart_version.as_str()), ("deployed", 1, "cleanroom-demo", "0.1.0"), "{name}");
    assert_eq!(info.resources.len(), 4, "{name}: {:?}", info.resources);
    let client = sim.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "demo");
    assert_eq!(cms.get("demo-config").await.unwrap().data.unwrap()["greeting"], "hi", "{name}");

    let listed = helm.list(None).await.unwrap();
    assert_eq!(listed.iter().map(|r| (r.name.as_str(), r.status.as_str(), r.revision)).collect::<Vec<_>>(), [("demo", "deployed", 1)], "{name}");
    assert_eq!(listed[0].chart(), "cleanroom-demo-0.1.0");

    req.set = vec!["greeting=upgraded".into()];
    let up = helm.upgrade(&req, false).await.unwrap_or_else(|e| panic!("{name} upgrade: {e}"));
    assert_eq!((up.revision, up.status.as_str()), (2, "deployed"), "{name}");
    assert_eq!(cms.get("demo-config").await.unwrap().data.unwrap()["greeting"], "upgraded", "{name}");
    let st = helm.status("demo", "demo").await.unwrap();
    assert_eq!((st.revision, st.status.as_str()), (2, "deployed"), "{name}");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "demo");
    let records = secrets.list(&ListParams::default().labels("owner=helm,name=demo")).await.unwrap();
    assert_eq!(records.items.len(), 2, "{name}: one release record per revision");

    let opts = UninstallOptions { wait: true, timeout: Duration::from_secs(60), ..Default::default() };
    let un = helm.uninstall("demo", "demo", &opts).await.unwrap_or_else(|e| panic!("{name} uninstall: {e}"));
    assert!(un.message.contains("release \"demo\" uninstalled"), "{name}: {}", un.message);
    assert!(cms.get_opt("demo-config").await.unwrap().is_none(), "{name}: the ConfigMap goes with the release");
    assert!(secrets.list(&ListParams::default().labels("owner=helm,name=demo")).await.unwrap().items.is_empty(), "{name}");
    // Helm never deletes CRDs from crds/.
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    assert!(crds.get_opt("widgets.demo.cleanroom.dev").await.unwrap().is_some(), "{name}");
    assert!(helm.list(None).await.unwrap().is_empty(), "{name}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_and_helm4_install_upgrade_uninstall_on_the_embedded_cluster() {
    let helms = require_helms!();
    for (name, bin) in helms {
        lifecycle(name, &bin).await;
    }
}
