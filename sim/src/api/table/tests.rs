use super::*;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap()
}
fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}
fn cells(t: &Value, row: usize) -> Vec<Value> {
    t["rows"][row]["cells"].as_array().unwrap().clone()
}
fn names(t: &Value) -> Vec<String> {
    t["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn human_durations() {
    let cases = [
        (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (182, "3m2s"), (600, "10m"),
        (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 60 * 7, "3h7m"), (8 * 3600, "8h"), (47 * 3600, "47h"),
        (48 * 3600, "2d"), (51 * 3600, "2d3h"), (8 * 86400, "8d"), (364 * 86400 * 2, "728d"), (730 * 86400, "2y"),
        (731 * 86400, "2y1d"), (8 * 365 * 86400, "8y"),
    ];
    for (s, want) in cases {
        assert_eq!(human_duration(secs(s)), want, "{s}s");
    }
    assert_eq!(translate_timestamp_since(None, now()), "<unknown>");
}

#[test]
fn pod_table() {
    let created = "2025-01-10T11:57:00Z";
    let running = json!({
        "metadata": {"name": "web", "namespace": "d", "creationTimestamp": created, "resourceVersion": "5"},
        "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "b", "ready": true, "restartCount": 2, "state": {"running": {}}, "lastState": {"terminated": {"finishedAt": "2025-01-10T11:59:00Z"}}}
        ]}
    });
    let creating = json!({"metadata": {"name": "c", "creationTimestamp": created}, "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "a", "ready": false, "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
    let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
    let done = json!({"metadata": {"name": "j"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Succeeded",
        "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
    let deleting = json!({"metadata": {"name": "t", "deletionTimestamp": created}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running"}});
    let t = to_table("", "Pod", &[&running, &creating, &pending, &done, &deleting], now(), IncludeObject::Metadata, None);
    assert_eq!(names(&t), ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]);
    assert_eq!(t["columnDefinitions"][5]["priority"], 1);
    assert_eq!(cells(&t, 0), vec![json!("web"), json!("2/2"), json!("Running"), json!("2 (60s ago)"), json!("3m"), json!("10.0.0.5"), json!("n1"), json!("<none>"), json!("<none>")]);
    assert_eq!(cells(&t, 1)[2], "ContainerCreating");
    assert_eq!(cells(&t, 2)[1..3], [json!("0/1"), json!("Pending")]);
    assert_eq!(cells(&t, 2)[4], "<unknown>");
    assert_eq!(cells(&t, 3)[2], "Completed");
    assert_eq!(t["rows"][3]["conditions"][0]["reason"], "Succeeded");
    assert_eq!(cells(&t, 4)[2], "Terminating");
    assert_eq!(t["rows"][0]["object"], json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": running["metadata"]}));
    assert_eq!(t["kind"], "Table");
    let t = to_table("", "Pod", &[&running], now(), IncludeObject::None, None);
    assert!(t["rows"][0]["object"].is_null());
}

#[test]
fn builtin_tables() {
    let ts = "2025-01-08T09:00:00Z";
    let svc = json!({"metadata": {"name": "s", "creationTimestamp": ts}, "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"],
        "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}], "selector": {"b": "2", "a": "1"}}});
    let t = to_table("", "Service", &[&svc], now(), IncludeObject::Metadata, None);
    assert_eq!(names(&t), ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]);
    assert_eq!(cells(&t, 0), vec![json!("s"), json!("NodePort"), json!("10.96.0.10"), json!("<none>"), json!("80:30080/TCP,53/UDP"), json!("2d3h"), json!("a=1,b=2")]);

    let dep = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
        "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}, "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    let t = to_table("apps", "Deployment", &[&dep], now(), IncludeObject::Metadata, None);
    assert_eq!(names(&t), ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]);
    assert_eq!(cells(&t, 0), vec![json!("d"), json!("2/3"), json!(3), json!(2), json!("<unknown>"), json!("c"), json!("nginx"), json!("app=web")]);

    let sc = json!({"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
    let t = to_table("storage.k8s.io", "StorageClass", &[&sc], now(), IncludeObject::Metadata, None);
    assert_eq!(cells(&t, 0)[..5], [json!("standard (default)"), json!("rancher.io/local-path"), json!("Delete"), json!("WaitForFirstConsumer"), json!(false)]);

    let node = json!({"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": ""}}, "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.35.0"}}});
    let t = to_table("", "Node", &[&node], now(), IncludeObject::Metadata, None);
    assert_eq!(cells(&t, 0)[..5], [json!("n"), json!("Ready"), json!("control-plane"), json!("<unknown>"), json!("v1.35.0")]);

    let job = json!({"metadata": {"name": "j"}, "spec": {"completions": 1}, "status": {"succeeded": 1, "startTime": "2025-01-10T11:00:00Z", "completionTime": "2025-01-10T11:00:42Z", "conditions": [{"type": "Complete", "status": "True"}]}});
    let t = to_table("batch", "Job", &[&job], now(), IncludeObject::Metadata, None);
    assert_eq!(cells(&t, 0)[..4], [json!("j"), json!("Complete"), json!("1/1"), json!("42s")]);

    let ev = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web"}, "type": "Normal", "reason": "Started", "message": " hi ", "source": {"component": "kubelet", "host": "n1"}, "lastTimestamp": "2025-01-10T11:59:30Z"});
    let t = to_table("", "Event", &[&ev], now(), IncludeObject::Metadata, None);
    assert_eq!(names(&t)[..4], ["Last Seen", "Type", "Reason", "Object"]);
    assert_eq!(cells(&t, 0), vec![json!("30s"), json!("Normal"), json!("Started"), json!("pod/web"), json!(""), json!("kubelet, n1"), json!("hi"), json!("<unknown>"), json!(1), json!("e")]);

    let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
    assert_eq!(cells(&to_table("", "ConfigMap", &[&cm], now(), IncludeObject::Metadata, None), 0)[1], 3);
    let pvc = json!({"metadata": {"name": "p"}, "spec": {"volumeName": "pv1", "storageClassName": "standard"}, "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}});
    let t = to_table("", "PersistentVolumeClaim", &[&pvc], now(), IncludeObject::Metadata, None);
    assert_eq!(names(&t), ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age", "VolumeMode"]);
    assert_eq!(cells(&t, 0)[..7], [json!("p"), json!("Bound"), json!("pv1"), json!("1Gi"), json!("RWO"), json!("standard"), json!("<unset>")]);
    let ep = json!({"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "1.1.1.1"}, {"ip": "1.1.1.2"}, {"ip": "1.1.1.3"}, {"ip": "1.1.1.4"}], "ports": [{"port": 80}]}]});
    assert_eq!(cells(&to_table("", "Endpoints", &[&ep], now(), IncludeObject::Metadata, None), 0)[1], "1.1.1.1:80,1.1.1.2:80,1.1.1.3:80 + 1 more...");
}

#[test]
fn default_and_custom_resource_tables() {
    let role = json!({"metadata": {"name": "r", "creationTimestamp": "2025-01-01T00:00:00Z"}});
    let t = to_table("rbac.authorization.k8s.io", "ClusterRole", &[&role], now(), IncludeObject::Metadata, None);
    assert_eq!(names(&t), ["Name", "Created At"]);
    assert_eq!(t["columnDefinitions"][1]["type"], "date");
    assert_eq!(cells(&t, 0), vec![json!("r"), json!("2025-01-01T00:00:00Z")]);

    let cr = json!({"metadata": {"name": "x", "creationTimestamp": "2025-01-10T11:00:00Z"}, "spec": {"replicas": 3, "tags": ["a"]},
        "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}});
    let t = to_table("example.com", "Widget", &[&cr], now(), IncludeObject::Object, Some(&[]));
    assert_eq!(names(&t), ["Name", "Age"]);
    assert_eq!(cells(&t, 0), vec![json!("x"), json!("60m")]);
    assert_eq!(t["rows"][0]["object"], cr);
    let cols = [
        json!({"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}),
        json!({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1}),
        json!({"name": "Tags", "type": "string", "jsonPath": ".spec.tags"}),
        json!({"name": "Missing", "type": "string", "jsonPath": ".spec.nope"}),
        json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
    ];
    let t = to_table("example.com", "Widget", &[&cr], now(), IncludeObject::Metadata, Some(&cols));
    assert_eq!(cells(&t, 0), vec![json!("x"), json!("True"), json!(3), json!("[\"a\"]"), Value::Null, json!("60m")]);
    assert_eq!(t["columnDefinitions"][2]["priority"], 1);
    assert_eq!(t["columnDefinitions"][1]["description"], "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type==\"Ready\")].status");
    assert_eq!(IncludeObject::parse(Some("Object")).unwrap(), IncludeObject::Object);
    assert!(IncludeObject::parse(Some("bogus")).is_err());
}
