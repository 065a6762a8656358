use super::*;
use serde_json::json;

fn rendered(c: &[Cause]) -> Vec<String> {
    c.iter().map(Cause::render).collect()
}

#[test]
fn object_meta_create() {
    let r = rendered(&validate_object_meta(&json!({"metadata": {}}), true, NameRule::Dns1123Subdomain));
    assert_eq!(r, vec!["metadata.name: Required value: name or generateName is required", "metadata.namespace: Required value"]);
    let r = rendered(&validate_object_meta(&json!({"metadata": {"name": "Bad_Name", "namespace": "x"}}), false, NameRule::Dns1123Subdomain));
    assert_eq!(r[0], "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    assert_eq!(r[1], "metadata.namespace: Forbidden: not allowed on this type");
    assert!(validate_object_meta(&json!({"metadata": {"generateName": "web-"}}), false, NameRule::Dns1123Subdomain)
        .iter()
        .all(|c| c.field == "metadata.name"));
    let r = rendered(&validate_object_meta(&json!({"metadata": {"name": "a.b"}}), false, NameRule::Dns1123Label));
    assert_eq!(r, vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]);
    let r = rendered(&validate_object_meta(&json!({"metadata": {"name": "a/b"}}), false, NameRule::PathSegment));
    assert_eq!(r, vec!["metadata.name: Invalid value: \"a/b\": may not contain '/'"]);
    let r = rendered(&validate_object_meta(&json!({"metadata": {"name": "a", "labels": {"a b": "-x"}}}), false, NameRule::Dns1123Subdomain));
    assert!(r[0].starts_with("metadata.labels: Invalid value: \"a b\": name part must consist"));
    assert!(r[1].starts_with("metadata.labels: Invalid value: \"-x\": a valid label must be an empty string"));
    let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
    let r = rendered(&validate_object_meta(&json!({"metadata": {"name": "a", "annotations": {"k": big}}}), false, NameRule::Dns1123Subdomain));
    assert_eq!(r, vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]);
    assert_eq!(name_rule_for("", "Service"), NameRule::Dns1035Label);
}

#[test]
fn create_checks() {
    let r = rendered(&validate_create("", "Pod", &json!({"spec": {}})));
    assert_eq!(r, vec!["spec.containers: Required value"]);
    let r = rendered(&validate_create("", "Pod", &json!({"spec": {"containers": [{"name": "a"}, {"name": "a", "image": "x"}, {}]}})));
    assert_eq!(r, vec![
        "spec.containers[0].image: Required value",
        "spec.containers[1].name: Duplicate value: \"a\"",
        "spec.containers[2].name: Required value",
        "spec.containers[2].image: Required value",
    ]);
    let r = rendered(&validate_create("", "ConfigMap", &json!({"data": {"a b": "x"}})));
    assert_eq!(r, vec!["data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]);
    let d = json!({"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"z": "1", "app": "db"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let r = rendered(&validate_create("apps", "Deployment", &d));
    assert_eq!(r, vec!["spec.template.metadata.labels: Invalid value: {\"app\":\"db\",\"z\":\"1\"}: `selector` does not match template `labels`"]);
    let r = rendered(&validate_create("", "Service", &json!({"spec": {}})));
    assert_eq!(r, vec!["spec.ports: Required value"]);
    assert!(validate_create("", "Service", &json!({"spec": {"clusterIP": "None"}})).is_empty());
    assert!(validate_create("", "Service", &json!({"spec": {"type": "ExternalName", "externalName": "x.com"}})).is_empty());
    let r = rendered(&validate_create("", "PersistentVolumeClaim", &json!({"spec": {}})));
    assert_eq!(r, vec!["spec.accessModes: Required value: at least 1 access mode is required", "spec.resources[storage]: Required value"]);
    let r = rendered(&validate_create("", "Secret", &json!({"type": "kubernetes.io/tls", "data": {}})));
    assert_eq!(r, vec!["data[tls.key]: Required value", "data[tls.crt]: Required value"]);
}

#[test]
fn update_checks() {
    let old = json!({"metadata": {"name": "a", "uid": "1"}, "immutable": true, "data": {"k": "dg=="}});
    let new = json!({"metadata": {"name": "a", "uid": "1"}, "immutable": false, "data": {"k": "eA=="}});
    let r = rendered(&validate_update("", "Secret", &old, &new));
    assert_eq!(r, vec!["immutable: Forbidden: field is immutable when `immutable` is set", "data: Forbidden: field is immutable when `immutable` is set"]);
    let new = json!({"metadata": {"name": "b", "uid": "1"}, "immutable": true, "data": {"k": "dg=="}});
    assert_eq!(rendered(&validate_update("", "ConfigMap", &old, &new)), vec!["metadata.name: Invalid value: \"b\": field is immutable"]);

    let d = |app: &str| json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": app}}, "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let r = rendered(&validate_update("apps", "Deployment", &d("a"), &d("b")));
    assert_eq!(r, vec!["spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"b\"}}: field is immutable"]);
    let mut s2 = d("a");
    s2["spec"]["serviceName"] = json!("x");
    let r = rendered(&validate_update("apps", "StatefulSet", &d("a"), &s2));
    assert_eq!(r, vec!["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".to_string()]);

    let svc = |ip: &str| json!({"metadata": {"name": "s"}, "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [{"port": 80}]}});
    let r = rendered(&validate_update("", "Service", &svc("10.0.0.1"), &svc("10.0.0.2")));
    assert_eq!(r, vec!["spec.clusterIPs[0]: Invalid value: [\"10.0.0.2\"]: may not change once set"]);
    let no_ip = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}});
    assert!(validate_update("", "Service", &svc("10.0.0.1"), &no_ip).is_empty());

    let pod = |img: &str, node: &str| json!({"metadata": {"name": "p"}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": img}]}});
    assert!(validate_update("", "Pod", &pod("a", "n"), &pod("b", "n")).is_empty());
    assert!(rendered(&validate_update("", "Pod", &pod("a", "n"), &pod("a", "m")))[0].starts_with("spec: Forbidden: pod updates may not change fields other than"));

    let pvc = |sz: &str, sc: &str| json!({"metadata": {"name": "p"}, "spec": {"storageClassName": sc, "resources": {"requests": {"storage": sz}}}});
    assert!(validate_update("", "PersistentVolumeClaim", &pvc("1Gi", "a"), &pvc("2Gi", "a")).is_empty());
    assert_eq!(validate_update("", "PersistentVolumeClaim", &pvc("1Gi", "a"), &pvc("1Gi", "b"))[0].render(), format!("spec: Forbidden: {}", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));

    let mut ns = json!({"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "x"}}});
    ensure_namespace_name_label(&mut ns);
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team");
}
