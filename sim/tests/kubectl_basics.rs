//! The real kubectl against the embedded API server: outputs and exit codes as on a real cluster.

mod common;

use common::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_discovery() {
    let h = Harness::start().await;
    let out = h.ok(&["version", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.35.0");
    let res = h.ok(&["api-resources", "--no-headers"]).await;
    for line in ["statefulsets", "customresourcedefinitions", "validatingwebhookconfigurations", "persistentvolumeclaims"] {
        assert!(res.contains(line), "api-resources lacks {line}:\n{res}");
    }
    assert!(res.lines().any(|l| l.starts_with("statefulsets") && l.contains("sts") && l.contains("apps/v1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resource_type_fails_like_kube() {
    let h = Harness::start().await;
    let r = h.kubectl(&["get", "foos"]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.trim(), "error: the server doesn't have a resource type \"foos\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_list_with_selectors() {
    let h = Harness::start().await;
    h.ok(&["create", "namespace", "sel"]).await;
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
        h.ok(&["create", "configmap", name, "-n", "sel", "--from-literal=k=v"]).await;
        h.ok(&["label", "configmap", name, "-n", "sel", &format!("tier={tier}")]).await;
    }
    let names = |s: String| -> Vec<String> { s.split_whitespace().map(|x| x.trim_start_matches("configmap/").to_string()).collect() };
    assert_eq!(names(h.ok(&["get", "cm", "-n", "sel", "-l", "tier=web", "-o", "name"]).await), vec!["a", "c"]);
    assert_eq!(names(h.ok(&["get", "cm", "-n", "sel", "-l", "tier!=web,tier", "-o", "name"]).await), vec!["b"]);
    assert_eq!(names(h.ok(&["get", "cm", "-n", "sel", "-l", "tier in (db,x)", "-o", "name"]).await), vec!["b"]);
    let untiered = names(h.ok(&["get", "cm", "-n", "sel", "-l", "!tier", "-o", "name"]).await);
    assert!(!untiered.iter().any(|n| ["a", "b", "c"].contains(&n.as_str())), "{untiered:?}");
    assert_eq!(names(h.ok(&["get", "cm", "-n", "sel", "--field-selector", "metadata.name=b", "-o", "name"]).await), vec!["b"]);
    let r = h.kubectl(&["get", "cm", "-n", "sel", "--field-selector", "spec.foo=b"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""), "{}", r.stderr);
    let r = h.kubectl(&["get", "cm", "-n", "sel", "-l", "tier in web"]).await;
    assert_eq!(r.code, 1, "bad selector must fail: {}", r.stdout);
    // -o json of a single object.
    let j: serde_json::Value = serde_json::from_str(&h.ok(&["get", "cm", "a", "-n", "sel", "-o", "json"]).await).unwrap();
    assert_eq!(j["data"]["k"], "v");
    assert_eq!(j["metadata"]["labels"]["tier"], "web");
    assert!(j["metadata"]["uid"].as_str().unwrap().len() == 36);
    // delete -l removes exactly the matching objects.
    let out = h.ok(&["delete", "cm", "-n", "sel", "-l", "tier=web"]).await;
    assert!(out.contains("configmap \"a\" deleted") && out.contains("configmap \"c\" deleted"), "{out}");
    assert_eq!(names(h.ok(&["get", "cm", "-n", "sel", "-l", "tier", "-o", "name"]).await), vec!["b"]);
    let r = h.kubectl(&["get", "cm", "a", "-n", "sel"]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.trim(), "Error from server (NotFound): configmaps \"a\" not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_and_empty_lists() {
    let h = Harness::start().await;
    let out = h.ok(&["get", "all", "-A"]).await;
    assert!(out.contains("service/kubernetes"), "{out}");
    // As on kind: kube-system runs the kube-proxy and kindnet DaemonSets, nothing else of these kinds.
    let out = h.ok(&["get", "pvc,sts,ds,crd", "-A", "-o", "name"]).await;
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["daemonset.apps/kindnet", "daemonset.apps/kube-proxy"], "{out}");
    let r = h.kubectl(&["get", "pvc,sts,crd", "-A"]).await;
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("No resources found"), "{}", r.stderr);
    let pods = h.ok(&["get", "pods", "-n", "kube-system", "--no-headers"]).await;
    for p in ["coredns-", "etcd-cleanroom-control-plane", "kube-apiserver-cleanroom-control-plane", "kube-proxy-", "kindnet-"] {
        assert!(pods.lines().any(|l| l.starts_with(p)), "kube-system lacks {p}:\n{pods}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_objects_are_rejected_with_status() {
    let h = Harness::start().await;
    let r = h.kubectl(&["create", "configmap", "Bad_Name"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: failed to create configmap: ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{}", r.stderr);
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n".to_string();
    let r = h.kubectl_stdin(&["create", "-f", "-"], Some(bad)).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""), "{}", r.stderr);
    // Unknown fields under kubectl's default strict validation.
    let unknown = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\nbogus: 1\n".to_string();
    let r = h.kubectl_stdin(&["create", "-f", "-"], Some(unknown)).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("strict decoding error: unknown field \"bogus\""), "{}", r.stderr);
    let r = h.kubectl(&["create", "configmap", "x", "-n", "does-not-exist"]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.trim(), "error: failed to create configmap: namespaces \"does-not-exist\" not found");
    h.ok(&["create", "configmap", "dup"]).await;
    let r = h.kubectl(&["create", "configmap", "dup"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("configmaps \"dup\" already exists"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_come_from_the_kubelet_and_exec_says_why_not() {
    let h = Harness::start().await;
    h.ok(&["run", "web", "--image=nginx:1.27"]).await;
    h.ok(&["wait", "--for=condition=Ready", "pod/web", "--timeout=20s"]).await;
    let logs = h.ok(&["logs", "web"]).await;
    assert!(!logs.trim().is_empty(), "the kubelet writes a line when the container starts");
    let r = h.kubectl(&["logs", "web", "-c", "nope"]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.trim(), "error: container nope is not valid for pod web");
    let r = h.kubectl(&["exec", "web", "--", "ls"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("needs a running container process"), "{}", r.stderr);
}
