//! `kubectl create <typed>` sends protobuf bodies (client-go typed clients never fall
//! back to JSON); every one of these must decode and round-trip through `get -o json`.

mod common;

use serde_json::Value;

async fn get_json(h: &common::Harness, args: &[&str]) -> Value {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&h.ok(&a).await).expect("kubectl prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_typed_objects_round_trip() {
    let h = common::Harness::start().await;

    h.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]).await;
    let svc = get_json(&h, &["service", "web"]).await;
    let port = &svc["spec"]["ports"][0];
    assert_eq!((port["port"].as_i64(), port["targetPort"].as_i64(), port["protocol"].as_str()), (Some(80), Some(8080), Some("TCP")), "{svc}");
    assert_eq!(svc["spec"]["type"], "ClusterIP");

    h.ok(&["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2"]).await;
    let d = get_json(&h, &["deployment", "web"]).await;
    assert_eq!(d["spec"]["replicas"], 2, "{d}");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");

    h.ok(&["create", "job", "j", "--image=busybox:1.37"]).await;
    let j = get_json(&h, &["job", "j"]).await;
    assert_eq!(j["spec"]["template"]["spec"]["containers"][0]["image"], "busybox:1.37", "{j}");
    assert_eq!(j["spec"]["template"]["spec"]["restartPolicy"], "Never");

    h.ok(&["create", "cronjob", "c", "--image=busybox", "--schedule=*/5 * * * *"]).await;
    let c = get_json(&h, &["cronjob", "c"]).await;
    assert_eq!(c["spec"]["schedule"], "*/5 * * * *", "{c}");
    assert_eq!(c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"], "busybox");

    h.ok(&["create", "role", "r", "--verb=get", "--resource=pods"]).await;
    let r = get_json(&h, &["role", "r"]).await;
    assert_eq!(r["rules"][0]["verbs"][0], "get", "{r}");
    assert_eq!(r["rules"][0]["resources"][0], "pods");
    assert_eq!(r["rules"][0]["apiGroups"][0], "");

    h.ok(&["create", "rolebinding", "rb", "--role=r", "--user=u"]).await;
    let rb = get_json(&h, &["rolebinding", "rb"]).await;
    assert_eq!(rb["roleRef"]["name"], "r", "{rb}");
    assert_eq!(rb["roleRef"]["kind"], "Role");
    assert_eq!(rb["subjects"][0]["name"], "u");
    assert_eq!(rb["subjects"][0]["kind"], "User");

    h.ok(&["create", "clusterrole", "cr", "--verb=list", "--resource=nodes"]).await;
    let cr = get_json(&h, &["clusterrole", "cr"]).await;
    assert_eq!(cr["rules"][0]["verbs"][0], "list", "{cr}");
    assert_eq!(cr["rules"][0]["resources"][0], "nodes");

    h.ok(&["create", "pdb", "p", "--selector=app=web", "--min-available=1"]).await;
    let p = get_json(&h, &["pdb", "p"]).await;
    assert_eq!(p["spec"]["minAvailable"], 1, "{p}");
    assert_eq!(p["spec"]["selector"]["matchLabels"]["app"], "web");

    h.ok(&["create", "priorityclass", "pc", "--value=1000"]).await;
    let pc = get_json(&h, &["priorityclass", "pc"]).await;
    assert_eq!(pc["value"], 1000, "{pc}");

    h.ok(&["create", "quota", "q", "--hard=pods=10"]).await;
    let q = get_json(&h, &["resourcequota", "q"]).await;
    assert_eq!(q["spec"]["hard"]["pods"], "10", "{q}");

    h.ok(&["create", "ingress", "ing", "--rule=a.example.com/=web:80"]).await;
    let ing = get_json(&h, &["ingress", "ing"]).await;
    let rule = &ing["spec"]["rules"][0];
    assert_eq!(rule["host"], "a.example.com", "{ing}");
    let path = &rule["http"]["paths"][0];
    assert_eq!(path["path"], "/");
    assert_eq!(path["pathType"], "Exact");
    assert_eq!(path["backend"]["service"]["name"], "web");
    assert_eq!(path["backend"]["service"]["port"]["number"], 80);

    h.ok(&["create", "secret", "generic", "s", "--from-literal=k=v"]).await;
    let s = get_json(&h, &["secret", "s"]).await;
    assert_eq!(s["data"]["k"], "dg==", "{s}");
    assert_eq!(s["type"], "Opaque");

    // The token subresource needs the ServiceAccount.
    if h.kubectl(&["get", "serviceaccount", "default"]).await.code != 0 {
        h.ok(&["create", "serviceaccount", "default"]).await;
    }
    let token = h.ok(&["create", "token", "default"]).await;
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "JWT-shaped token: {token:?}");
    let token = h.ok(&["create", "token", "default", "--duration=10m", "-o", "json"]).await;
    let tr: Value = serde_json::from_str(&token).unwrap();
    assert_eq!(tr["kind"], "TokenRequest", "{tr}");
    assert_eq!(tr["spec"]["expirationSeconds"], 600);
    assert!(tr["status"]["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(tr["status"]["expirationTimestamp"].as_str().is_some());
}
