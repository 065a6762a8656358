//! The runbook scenario's findings, item by item: what each command of the runbook's purge did, what
//! survived it and why, and what its node section misses. A change in any of them is a change in what
//! cleanroom tells the team that wrote the runbook.

mod common;

use std::path::Path;

use regex::Regex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_findings_item_by_item() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/kube-prometheus-stack-runbook.yaml");
    let r = common::run_file(&path).await;
    common::assert_passed(&r);

    let pvc = "prometheus-prometheus-stack-kube-prom-prometheus-db-prometheus-prometheus-stack-kube-prom-prometheus-0";
    let pod = "prometheus-prometheus-stack-kube-prom-prometheus-0";
    let zombie = "/var/lib/kubelet/pods/00000000-dead-4000-8000-0000000cafe0";
    let helm_leaves = "created at run time by prometheus-operator, not by Helm: no release manifest lists it, so helm uninstall leaves it";
    let nothing = "deleted nothing: No resources found";
    let survived = "what survives the runbook's purge, and why";
    let cleanup = "node: umount, rm -rf /var/log/pods/monitoring_prometheus-*, rm -rf /var/log/containers/prometheus-*";
    // (step, text): the text is a regex once escaped, with `\S+` where names are random.
    let q = |s: &str| regex::escape(s);
    let want: Vec<(&str, String)> = vec![
        ("purge step 2: delete statefulsets by release label", q(nothing)),
        ("purge step 2: delete pvcs by release label", q(nothing)),
        ("purge step 2: delete pvs grepped for monitoring", format!("{}\\S+{}", q("timed out after 4s (process group killed); last output: persistentvolume \"pvc-"), q("\" deleted"))),
        ("purge step 3: delete validating webhooks by release label", q(nothing)),
        ("purge step 3: delete mutating webhooks by release label", q(nothing)),
        ("purge step 4: delete clusterroles by release label", q(nothing)),
        ("purge step 4: delete clusterrolebindings by release label", q(nothing)),
        ("purge step 4: delete configmaps by release label", q(nothing)),
        ("purge step 4: delete secrets by release label", q(nothing)),
        ("purge step 5: final check", q("a check that can never fail: grep found nothing because `kubectl get all,crd,pvc,clusterrole,clusterrolebinding,webhook -A` failed (error: the server doesn't have a resource type \"webhook\"), so it reads \"nothing left\" whatever is left")),
        (survived, q("survived the procedure: ConfigMap monitoring/kube-root-ca.crt: inside leftover namespace monitoring")),
        (survived, q(&format!("survived the procedure: Endpoints kube-system/prometheus-stack-kube-prom-kubelet: {helm_leaves}"))),
        (survived, q("survived the procedure: Namespace monitoring: namespace created during step 2 `script` by kubectl (`kubectl-create`), not by Helm, and never deleted")),
        (survived, format!("{}\\S+{}", q("survived the procedure: PersistentVolume pvc-"), q(": terminating, held by finalizer kubernetes.io/pv-protection"))),
        (survived, q(&format!("survived the procedure: PersistentVolumeClaim monitoring/{pvc}: {helm_leaves}"))),
        (survived, q("survived the procedure: Secret monitoring/prometheus-stack-kube-prom-admission: no labels and no owner: made at run time (e.g. by a hook Job), so no selector, owner or release manifest reaches it")),
        (survived, q(&format!("survived the procedure: Service kube-system/prometheus-stack-kube-prom-kubelet: {helm_leaves}"))),
        (survived, q("survived the procedure: ServiceAccount monitoring/default: inside leftover namespace monitoring")),
        (survived, format!("{}\\S+{}", q("survived the procedure: EndpointSlice.discovery.k8s.io kube-system/prometheus-stack-kube-prom-kubelet-"), q(": belongs to Service kube-system/prometheus-stack-kube-prom-kubelet, which is left over"))),
        ("sabotage.zombie-mount cleanroom-worker", q(&format!("planted zombie mount cleanroom-worker:{zombie}/volumes/kubernetes.io~empty-dir/prometheus-db"))),
        ("sabotage.orphan-pod-logs cleanroom-worker", format!("{}\\S+", q(&format!("planted orphan pod logs cleanroom-worker:/var/log/pods/monitoring_{pod}_")))),
        ("node: what the runbook's node section has no line for", q("kubectl delete pv (purge step 2) left the volume's data in /var/local-path-provisioner on its node (a hand-deleted PV is never reclaimed), and the node section never removes it, nor the kubelet pod dir /var/lib/kubelet/pods/<uid> of a zombie mount")),
        (cleanup, format!("{} .*", q(&format!("node.cleanup: unmounted cleanroom-worker:{zombie}/volumes/kubernetes.io~empty-dir/prometheus-db")))),
        (cleanup, format!("{} .*", q(&format!("node.cleanup: removed cleanroom-worker:{zombie}")))),
        (cleanup, format!("{}\\S+ .*", q(&format!("node.cleanup: removed cleanroom-worker:/var/log/pods/monitoring_{pod}_")))),
        (cleanup, format!("{}\\S+ .*", q(&format!("node.cleanup: removed cleanroom-worker:/var/log/containers/{pod}_monitoring_main-")))),
        // Wherever prometheus-0 ran.
        (cleanup, format!("{}\\S+{}\\S+{} .*", q("node.cleanup: removed cleanroom-"), q(":/var/local-path-provisioner/pvc-"), q(&format!("_monitoring_{pvc}")))),
    ];
    let got: Vec<(String, String)> = r.findings.iter().map(|f| (f.step.clone(), f.text.clone())).collect();
    let shown = got.iter().map(|(s, t)| format!("  {s}: {t}")).collect::<Vec<_>>().join("\n");
    assert_eq!(got.len(), want.len(), "findings:\n{shown}");
    for (i, ((step, text), (want_step, want_text))) in got.iter().zip(&want).enumerate() {
        assert_eq!(step, want_step, "finding {}: {text}", i + 1);
        let re = Regex::new(&format!("^{want_text}$")).unwrap();
        assert!(re.is_match(text), "finding {} of `{step}`:\n  expected /{want_text}/\n  got      {text}", i + 1);
    }
}
