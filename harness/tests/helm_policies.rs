//! The recorded-render engine's hook and resource policies on a small hand-written render:
//! before-hook-creation, hooks without hook-succeeded staying, `helm.sh/resource-policy: keep`,
//! upgrade pruning, `--keep-history`.

use std::time::Duration;

use cleanroom::helm::{Failure, HelmEngine, HelmError, InstallRequest, RecordedRenderEngine, UninstallOptions};
use cleanroom_sim::{SimCluster, SimOptions};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams};

const NS: &str = "demo";

fn cm(name: &str, policy: Option<&str>) -> String {
    let ann = policy.map(|p| format!("  annotations:\n    helm.sh/resource-policy: \"{p}\"\n")).unwrap_or_default();
    format!(
        "---\n# Source: demo/templates/{name}.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{ann}  labels:\n    helm.sh/chart: demo-0.1.0\ndata:\n  k: v\n"
    )
}

const HOOK: &str = "---\n# Source: demo/templates/job.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: demo-hook\n  annotations:\n    \"helm.sh/hook\": pre-install,pre-upgrade\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: c\n          image: busybox\n          command: [\"true\"]\n";

const SECRET: &str = "---\n# Source: demo/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: kept-secret\n  annotations:\n    helm.sh/resource-policy: \" Keep \"\nstringData:\n  password: hunter2\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_keep_policy_pruning_and_history() {
    let sim = SimCluster::start(SimOptions::default()).await.expect("embedded cluster");
    let client = sim.client();
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("v1.yaml");
    let v2 = dir.path().join("v2.yaml");
    std::fs::write(
        &v1,
        format!("{SECRET}{}{}{}{HOOK}", cm("kept", Some("keep")), cm("b", None), cm("odd", Some("retain"))),
    )
    .unwrap();
    std::fs::write(
        &v2,
        format!("{SECRET}{}{}{}{HOOK}", cm("kept", Some("keep")), cm("c", None), cm("odd", Some("retain"))),
    )
    .unwrap();

    let helm = RecordedRenderEngine::new(client.clone());
    let mut req = InstallRequest::new("demo", NS, "./demo");
    req.render = Some(v1.clone());
    req.create_namespace = true;
    req.timeout = Duration::from_secs(60);
    let info = helm.install(&req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.chart(), "demo-0.1.0");
    assert_eq!(info.resources.len(), 4);

    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let first_uid = jobs.get("demo-hook").await.expect("hook without hook-succeeded stays").metadata.uid;

    // Upgrade: the old hook is replaced (before-hook-creation), `b` is pruned, `c` appears.
    req.render = Some(v2.clone());
    let up = helm.upgrade(&req, false).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(up.revision, 2);
    assert_ne!(jobs.get("demo-hook").await.unwrap().metadata.uid, first_uid);
    assert!(cms.get_opt("b").await.unwrap().is_none());
    assert!(cms.get_opt("c").await.unwrap().is_some());

    // Uninstall with history: keep-policy objects stay and are reported; another policy value
    // is neither deleted nor reported; the hook Job (no delete policy) stays.
    let opts = UninstallOptions { keep_history: true, ..Default::default() };
    let report = helm.uninstall("demo", NS, &opts).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.message,
        "These resources were kept due to the resource policy:\n[ConfigMap] kept\n[Secret] kept-secret\n\nrelease \"demo\" uninstalled"
    );
    assert_eq!(report.deleted.len(), 1);
    assert!(cms.get_opt("kept").await.unwrap().is_some());
    assert!(cms.get_opt("odd").await.unwrap().is_some());
    assert!(cms.get_opt("c").await.unwrap().is_none());
    assert!(Api::<Secret>::namespaced(client.clone(), NS).get_opt("kept-secret").await.unwrap().is_some());
    assert!(jobs.get_opt("demo-hook").await.unwrap().is_some());

    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let v2_secret = secrets.get("sh.helm.release.v1.demo.v2").await.unwrap();
    assert_eq!(v2_secret.metadata.labels.unwrap()["status"], "uninstalled");
    assert_eq!(helm.status("demo", NS).await.unwrap().status, "uninstalled");
    assert!(helm.list(Some(NS)).await.unwrap().is_empty());

    // A kept history still holds the name; uninstalling again needs no --keep-history.
    req.render = Some(v1);
    assert!(matches!(helm.install(&req).await, Err(HelmError::Install(Failure::NameInUse))));
    let err = helm.uninstall("demo", NS, &opts).await.unwrap_err();
    assert_eq!(err.to_string(), "uninstall: the release named \"demo\" is already deleted");
    helm.uninstall("demo", NS, &UninstallOptions::default()).await.unwrap();
    assert!(secrets.list(&ListParams::default().labels("owner=helm")).await.unwrap().items.is_empty());
    sim.shutdown().await;
}

const WEBHOOK_RENDER: &str = r#"---
# Source: demo/crds/widgets.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.demo.cleanroom.dev
spec:
  group: demo.cleanroom.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
# Source: demo/templates/webhook.yaml
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: wh-validate
webhooks:
  - name: widgets.demo.cleanroom.dev
    admissionReviewVersions: ["v1"]
    sideEffects: None
    failurePolicy: Fail
    clientConfig:
      service: {name: wh-webhook, namespace: wh, path: /validate}
    rules:
      - apiGroups: ["demo.cleanroom.dev"]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["widgets"]
---
# Source: demo/templates/widget.yaml
apiVersion: demo.cleanroom.dev/v1
kind: Widget
metadata:
  name: w
spec:
  size: 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_failure_fails_the_release() {
    let sim = SimCluster::start(SimOptions::default()).await.expect("embedded cluster");
    let client = sim.client();
    let dir = tempfile::tempdir().unwrap();
    let render = dir.path().join("wh.yaml");
    std::fs::write(&render, WEBHOOK_RENDER).unwrap();
    let helm = RecordedRenderEngine::new(client.clone());
    let mut req = InstallRequest::new("wh", "wh", "demo");
    req.render = Some(render);
    req.create_namespace = true;
    let err = helm.install(&req).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "INSTALLATION FAILED: failed to create resource: Internal error occurred: failed calling webhook \"widgets.demo.cleanroom.dev\": failed to call webhook: Post \"https://wh-webhook.wh.svc:443/validate?timeout=10s\": service \"wh-webhook\" not found"
    );
    let st = helm.status("wh", "wh").await.unwrap();
    assert_eq!((st.revision, st.status.as_str()), (1, "failed"));
    assert!(
        st.description.starts_with("Release \"wh\" failed: failed to create resource: Internal error occurred"),
        "{}",
        st.description
    );
    sim.shutdown().await;
}
