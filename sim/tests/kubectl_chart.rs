//! The rendered kube-prometheus-stack (132 objects, CRDs first) through the real kubectl:
//! server-side apply, CRD waits, label deletes, CRD deletes and watches.

mod common;

use std::time::Duration;

use common::{fixture, split_crds, Harness};

const CRDS: [&str; 10] = [
    "alertmanagerconfigs.monitoring.coreos.com", "alertmanagers.monitoring.coreos.com", "podmonitors.monitoring.coreos.com",
    "probes.monitoring.coreos.com", "prometheusagents.monitoring.coreos.com", "prometheuses.monitoring.coreos.com",
    "prometheusrules.monitoring.coreos.com", "scrapeconfigs.monitoring.coreos.com", "servicemonitors.monitoring.coreos.com",
    "thanosrulers.monitoring.coreos.com",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_of_the_whole_chart() {
    let h = Harness::start().await;
    h.ok(&["create", "namespace", "monitoring"]).await;
    // CRDs first, as on a real cluster: kubectl cannot map a CR whose CRD does not exist yet.
    let (crds, rest) = split_crds(&fixture("storage.yaml"));
    let r = h.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(crds)).await;
    assert_eq!(r.code, 0, "apply of CRDs failed: {}\n{}", r.stderr, r.stdout);
    assert_eq!(r.stdout.lines().filter(|l| l.ends_with(" serverside-applied")).count(), 10, "{}", r.stdout);

    let mut args = vec!["wait", "--for=condition=Established", "--timeout=20s"];
    let crd_refs: Vec<String> = CRDS.iter().map(|c| format!("crd/{c}")).collect();
    args.extend(crd_refs.iter().map(|s| s.as_str()));
    let out = h.ok(&args).await;
    assert_eq!(out.lines().filter(|l| l.ends_with("condition met")).count(), 10, "{out}");

    let r = h.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(rest.clone())).await;
    assert_eq!(r.code, 0, "apply failed: {}\n{}", r.stderr, r.stdout);
    assert_eq!(r.stdout.lines().filter(|l| l.ends_with(" serverside-applied")).count(), 122, "{}", r.stdout);
    // Re-applying the same manifest succeeds and changes nothing.
    // (The chart's ConfigMaps: the emulated operator may add its rule-file ConfigMap meanwhile.)
    let versions = |out: String| -> std::collections::BTreeMap<String, String> {
        out.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let listing = ["get", "cm", "-n", "monitoring", "-l", "app.kubernetes.io/instance=prometheus-stack", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}"];
    let before = versions(h.ok(&listing).await);
    assert!(before.len() > 10, "{before:?}");
    let r = h.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(rest)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = versions(h.ok(&listing).await);
    assert_eq!(before, after, "a no-op apply must not bump resourceVersions");

    let prom = h.ok(&["get", "prometheus", "-n", "monitoring", "-o", "name"]).await;
    assert_eq!(prom.trim(), "prometheus.monitoring.coreos.com/prometheus-stack-kube-prom-prometheus");
    let rules = h.ok(&["get", "prometheusrules", "-n", "monitoring", "--no-headers"]).await;
    assert_eq!(rules.lines().count(), 35);
    let sa = h.ok(&["get", "sa", "-n", "monitoring", "-l", "app.kubernetes.io/instance=prometheus-stack", "-o", "name"]).await;
    assert!(sa.lines().count() >= 4, "{sa}");

    // delete -l across kinds the way purge scripts do it.
    let out = h.ok(&["delete", "cm,secret,svc", "-n", "monitoring", "-l", "release=prometheus-stack"]).await;
    assert!(out.contains("deleted"), "{out}");
    let left = h.kubectl(&["get", "cm,secret,svc", "-n", "monitoring", "-l", "release=prometheus-stack", "-o", "name"]).await;
    assert_eq!(left.stdout.trim(), "", "{}", left.stdout);

    // Deleting the CRDs takes their custom resources along.
    let mut del = vec!["delete", "crd"];
    del.extend(CRDS.iter().copied());
    let out = h.ok(&del).await;
    assert_eq!(out.lines().filter(|l| l.contains("deleted")).count(), 10, "{out}");
    let r = h.kubectl(&["get", "--raw", "/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheusrules"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("NotFound"), "{}", r.stderr);
    let r = h.kubectl(&["get", "crd"]).await;
    assert!(r.stderr.contains("No resources found"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes_to_kubectl() {
    let h = Harness::start().await;
    h.ok(&["create", "namespace", "watched"]).await;
    let kc = h.kubeconfig.clone();
    let child = std::process::Command::new("kubectl")
        .arg("--kubeconfig").arg(&kc)
        .args(["get", "configmaps", "-n", "watched", "-w", "--output-watch-events", "-o", "json", "--request-timeout=0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    h.ok(&["create", "configmap", "w1", "-n", "watched", "--from-literal=v=1"]).await;
    h.ok(&["patch", "configmap", "w1", "-n", "watched", "-p", r#"{"data":{"v":"2"}}"#]).await;
    h.ok(&["delete", "configmap", "w1", "-n", "watched"]).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = child.id();
    let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<String> = serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .map(|v| v.unwrap())
        .map(|v| format!("{} {} {}", v["type"].as_str().unwrap(), v["object"]["metadata"]["name"].as_str().unwrap(), v["object"]["data"]["v"].as_str().unwrap_or("")))
        .filter(|l| l.contains("w1"))
        .collect();
    assert_eq!(rows, vec!["ADDED w1 1", "MODIFIED w1 2", "DELETED w1 2"], "{text}");
}

