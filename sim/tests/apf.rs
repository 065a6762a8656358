//! API Priority and Fairness configuration, through kubectl on a manual clock: a fresh cluster
//! has kube-apiserver 1.35.4's bootstrap FlowSchemas and PriorityLevelConfigurations, each
//! FlowSchema says whether its priority level exists (`Dangling`, the `MISSINGPL` column), and
//! the ensurer puts back a deleted or edited bootstrap object on its next one-minute pass.

mod workloads_common;
use workloads_common::*;

use std::time::Duration;

use cleanroom_sim::{Clock, SimOptions};
use serde_json::Value;

fn dangling(fs: &Value) -> (String, String, String) {
    let c = fs["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Dangling")).cloned().unwrap_or_default();
    let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
    (s("status"), s("reason"), s("message"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_objects_dangling_condition_and_the_ensurer() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { clock: clock.clone(), write_storm_limit: Some(100), ..Default::default() }).await;

    // kube-apiserver 1.35.4's set, as `kubectl get` prints it (names in matchingPrecedence order).
    let out = kubectl(&kc, &["get", "flowschemas", "-o", "custom-columns=NAME:.metadata.name,PL:.spec.priorityLevelConfiguration.name,PREC:.spec.matchingPrecedence", "--no-headers"]).await;
    let names: Vec<&str> = out.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(names.len(), 11, "{out}");
    for want in ["exempt", "probes", "system-leader-election", "system-node-high", "system-nodes", "kube-controller-manager", "kube-scheduler", "kube-system-service-accounts", "service-accounts", "global-default", "catch-all"] {
        assert!(names.contains(&want), "{want} missing from\n{out}");
    }
    let plcs = kubectl(&kc, &["get", "prioritylevelconfigurations", "--no-headers"]).await;
    assert_eq!(plcs.lines().count(), 8, "{plcs}");
    assert!(plcs.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()[..5] == ["global-default", "Limited", "20", "128", "6"]), "{plcs}");

    // Every FlowSchema's priority level exists: MISSINGPL False.
    let table = kubectl(&kc, &["get", "flowschemas"]).await;
    assert!(table.lines().next().unwrap().ends_with("MISSINGPL"), "{table}");
    assert!(table.lines().skip(1).all(|l| l.ends_with("False")), "{table}");
    let fs = get_json(&kc, &["flowschema", "service-accounts", "--show-managed-fields"]).await;
    assert_eq!(dangling(&fs), ("False".into(), "Found".into(), "This FlowSchema references the PriorityLevelConfiguration object named \"workload-low\" and it exists".into()));
    assert_eq!(fs["metadata"]["annotations"]["apf.kubernetes.io/autoupdate-spec"], "true");
    let managers: Vec<&str> = fs["metadata"]["managedFields"].as_array().unwrap().iter().map(|m| m["manager"].as_str().unwrap()).collect();
    assert!(managers.contains(&"api-priority-and-fairness-config-producer-v1") && managers.contains(&"api-priority-and-fairness-config-consumer-v1"), "{managers:?}");

    // Deleting a priority level leaves its FlowSchema dangling at once …
    kubectl(&kc, &["delete", "prioritylevelconfiguration", "workload-low"]).await;
    watch_until(&sim, 20, "service-accounts Dangling=True", || {
        let fs = store_list(&sim, "flowcontrol.apiserver.k8s.io/flowschemas", None).into_iter().find(|f| name(f) == "service-accounts")?;
        (dangling(&fs).0 == "True").then_some(())
    }).await;
    let fs = get_json(&kc, &["flowschema", "service-accounts"]).await;
    assert_eq!(dangling(&fs).1, "NotFound");
    assert_eq!(dangling(&fs).2, "This FlowSchema references the PriorityLevelConfiguration object named \"workload-low\" but there is no such object");
    // … and an edited mandatory object keeps its edit until the ensurer's next pass.
    kubectl(&kc, &["patch", "flowschema", "catch-all", "--type", "merge", "-p", r#"{"spec":{"matchingPrecedence":9999}}"#]).await;
    let prec = kubectl(&kc, &["get", "flowschema", "catch-all", "-o", "jsonpath={.spec.matchingPrecedence}"]).await;
    assert_eq!(prec, "9999");
    // A suggested object a user marked as not auto-updated keeps its edit for good.
    kubectl(&kc, &["annotate", "flowschema", "probes", "--overwrite", "apf.kubernetes.io/autoupdate-spec=false"]).await;
    kubectl(&kc, &["patch", "flowschema", "probes", "--type", "merge", "-p", r#"{"spec":{"matchingPrecedence":3}}"#]).await;

    clock.advance(Duration::from_secs(61));
    watch_until(&sim, 20, "workload-low recreated and service-accounts no longer dangling", || {
        let fs = store_list(&sim, "flowcontrol.apiserver.k8s.io/flowschemas", None).into_iter().find(|f| name(f) == "service-accounts")?;
        (dangling(&fs).0 == "False").then_some(())
    }).await;
    let plc = get_json(&kc, &["prioritylevelconfiguration", "workload-low"]).await;
    assert_eq!(plc["spec"]["limited"]["nominalConcurrencyShares"], 100);
    let prec = kubectl(&kc, &["get", "flowschema", "catch-all", "-o", "jsonpath={.spec.matchingPrecedence}"]).await;
    assert_eq!(prec, "10000", "the mandatory catch-all's spec is put back");
    let prec = kubectl(&kc, &["get", "flowschema", "probes", "-o", "jsonpath={.spec.matchingPrecedence}"]).await;
    assert_eq!(prec, "3", "autoupdate-spec=false keeps a user's edit");
    // Untouched objects are left alone by the pass (their stored spec is the bootstrap one).
    for kind in ["flowschemas", "prioritylevelconfigurations"] {
        let gens = kubectl(&kc, &["get", kind, "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.generation} {end}"]).await;
        for g in gens.split_whitespace().filter(|g| !g.starts_with("catch-all=") && !g.starts_with("probes=")) {
            assert!(g.ends_with("=1"), "{kind}: {gens}");
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_flowschema_naming_a_missing_priority_level_is_dangling() {
    let (sim, kc, _d) = start().await;
    apply(&kc, "apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: FlowSchema\nmetadata: {name: mine}\nspec:\n  priorityLevelConfiguration: {name: nowhere}\n  matchingPrecedence: 5000\n  rules:\n  - subjects: [{kind: Group, group: {name: ops}}]\n    nonResourceRules: [{verbs: ['*'], nonResourceURLs: ['*']}]\n").await;
    let (status, reason, _) = watch_until(&sim, 20, "mine Dangling", || {
        let fs = store_list(&sim, "flowcontrol.apiserver.k8s.io/flowschemas", None).into_iter().find(|f| name(f) == "mine")?;
        let d = dangling(&fs);
        (!d.0.is_empty()).then_some(d)
    }).await;
    assert_eq!((status.as_str(), reason.as_str()), ("True", "NotFound"));
    let row = kubectl(&kc, &["get", "flowschema", "mine", "--no-headers"]).await;
    assert!(row.trim_end().ends_with("True"), "MISSINGPL True: {row}");
    // A user's object without the auto-update annotation is never removed by the ensurer.
    assert!(kubectl(&kc, &["get", "flowschema", "mine", "-o", "name"]).await.contains("flowschema.flowcontrol.apiserver.k8s.io/mine"));
    sim.shutdown().await;
}
