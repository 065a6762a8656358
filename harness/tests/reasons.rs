//! Leftover reasons do not assume Helm: objects the run's own steps made name the step; a CRD or namespace
//! made with kubectl says so (its field manager), not "from the chart's crds/ directory"; what a `kubectl`
//! or `script` step made (no run label) is named by the step it appeared during.

mod common;

const SCENARIO: &str = r#"
name: made-here
description: leftovers made by steps and by kubectl, each named for what made it
steps:
  - oracle.snapshot: { name: baseline }
  - namespace.create: { name: made-ns }
  - manifests.apply:
      inline: |
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: { name: widgets.made.cleanroom.dev }
        spec:
          group: made.cleanroom.dev
          scope: Namespaced
          names: { plural: widgets, singular: widget, kind: Widget }
          versions: [ { name: v1, served: true, storage: true, schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } } } ]
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: { name: made-cm, namespace: made-ns }
  - kubectl: { args: [create, namespace, kubectl-ns] }
  - script: { run: "kubectl create configmap made-by-script -n default --from-literal=a=b" }
  - name: every leftover named for what made it
    oracle.assert-clean: { baseline: baseline, settle: 0s }
    expect: fails
    message:
      - "Namespace made-ns: namespace created by step 2 `namespace.create`, not by Helm, and never deleted"
      - "CustomResourceDefinition\\S* widgets.made.cleanroom.dev: CRD applied by step 3 `manifests.apply`, not by Helm, and never deleted"
      - "ConfigMap made-ns/made-cm: created by step 3 `manifests.apply`, not by Helm, and never deleted"
      - "Namespace kubectl-ns: namespace created during step 4 `kubectl` by kubectl \\(`kubectl-create`\\), not by Helm, and never deleted"
      - "ConfigMap default/made-by-script: created during step 5 `script`, not by Helm, and never deleted"
finally:
  - kubectl: { args: [delete, namespace, kubectl-ns, --wait=false] }
  - kubectl: { args: [delete, configmap, made-by-script, -n, default] }
"#;

/// Run `yaml` from a file on the embedded cluster and check it passed; None (after saying why) without
/// kubectl, which the `kubectl` steps need.
async fn run_passing(yaml: &str) -> Option<cleanroom::runner::ScenarioResult> {
    if cleanroom::providers::process::which("kubectl").is_none() {
        eprintln!("skipped: kubectl is not on PATH (the kubectl step needs the real binary)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.yaml");
    std::fs::write(&file, yaml).unwrap();
    let r = common::run_file(&file).await;
    common::assert_passed(&r);
    Some(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_made_by_steps_or_kubectl_are_not_blamed_on_helm() {
    let Some(r) = run_passing(SCENARIO).await else { return };
    let text: Vec<String> = r.leftovers.iter().map(|l| l.line()).collect();
    assert!(!text.iter().any(|l| l.contains("crds/ directory") || l.contains("helm uninstall never") || l.ends_with(": unknown")), "{text:#?}");
}

/// What `kubectl`/`script` steps create carries no run label; teardown still removes what kubectl made
/// during them (the run's own objects), so the cluster ends as it began.
const MADE_BY_COMMANDS: &str = r#"
name: made-by-commands
description: objects made by command steps and never deleted are removed by teardown
steps:
  - kubectl: { args: [create, namespace, cmd-ns] }
  - script: { run: "kubectl create configmap cmd-cm -n default --from-literal=a=b" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_removes_what_command_steps_made() {
    let Some(r) = run_passing(MADE_BY_COMMANDS).await else { return };
    let td = r.steps.iter().find(|s| s.section == "teardown").expect("teardown step");
    assert_eq!(td.detail.as_deref(), Some("removed 2 object(s)"), "{td:?}");
    let findings: Vec<&str> = r.findings.iter().map(|f| f.text.as_str()).collect();
    let removed = findings.iter().find(|f| f.starts_with("teardown removed 2 object(s)")).unwrap_or_else(|| panic!("{findings:#?}"));
    assert!(removed.contains("Namespace cmd-ns") && removed.contains("ConfigMap default/cmd-cm"), "{removed}");
    assert!(!findings.iter().any(|f| f.starts_with("after teardown")), "the cluster ends as it began: {findings:#?}");
}
