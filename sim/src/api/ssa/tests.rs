use serde_json::json;

use super::*;

const T0: &str = "2024-01-01T00:00:00Z";
const T1: &str = "2024-01-01T00:01:00Z";

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": data})
}

fn with_server_meta(mut v: Value) -> Value {
    let meta = v["metadata"].as_object_mut().unwrap();
    meta.insert("uid".into(), json!("u-1"));
    meta.insert("resourceVersion".into(), json!("5"));
    meta.insert("creationTimestamp".into(), json!(T0));
    v
}

fn entry<'a>(obj: &'a Value, manager: &str) -> &'a Value {
    obj["metadata"]["managedFields"].as_array().unwrap().iter().find(|e| e["manager"] == manager).unwrap_or_else(|| panic!("no entry for {manager}: {obj}"))
}

/// A live object written by `manager` with an ordinary (Update) create.
fn created_by(obj: Value, manager: &str) -> Value {
    let mut o = with_server_meta(obj);
    record_update(None, &mut o, manager, T0, None);
    o
}

#[test]
fn create_via_apply_records_apply_entry() {
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"key": "v"}});
    let out = apply(None, &applied, "kubectl", false, T0).unwrap();
    assert_eq!(out["data"], json!({"key": "v"}));
    assert_eq!(out["metadata"]["name"], "c");
    let e = entry(&out, "kubectl");
    assert_eq!(
        e,
        &json!({"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:key": {}}, "f:metadata": {"f:labels": {"f:a": {}}}}})
    );
}

#[test]
fn reapply_prunes_fields_no_longer_applied() {
    let first = apply(None, &cm(json!({"a": "1", "b": "2"})), "kubectl", false, T0).unwrap();
    let live = with_server_meta(first);
    let out = apply(Some(&live), &cm(json!({"a": "1"})), "kubectl", false, T1).unwrap();
    assert_eq!(out["data"], json!({"a": "1"}));
    assert_eq!(out["metadata"]["uid"], "u-1");
    assert_eq!(out["metadata"]["resourceVersion"], "5");
    assert_eq!(out["metadata"]["creationTimestamp"], T0);
    assert_eq!(entry(&out, "kubectl")["fieldsV1"], json!({"f:data": {"f:a": {}}}));
    assert_eq!(out["metadata"]["managedFields"].as_array().unwrap().len(), 1);
}

#[test]
fn no_op_apply_keeps_time() {
    let live = with_server_meta(apply(None, &cm(json!({"a": "1"})), "kubectl", false, T0).unwrap());
    let out = apply(Some(&live), &cm(json!({"a": "1"})), "kubectl", false, T1).unwrap();
    assert_eq!(entry(&out, "kubectl")["time"], T0);
    assert_eq!(out, live);
}

#[test]
fn conflict_with_update_manager() {
    let live = created_by(cm(json!({"key": "a", "other": "x"})), "kubectl-client-side-apply");
    let err = apply(Some(&live), &cm(json!({"key": "b"})), "kubectl", false, T1).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.key");
    let api = err.to_api_error("configmaps", "", "c");
    assert_eq!((api.code, api.reason.as_str()), (409, "Conflict"));
    let st = api.to_status();
    assert_eq!(
        st["details"],
        json!({"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using v1", "field": ".data.key"}]})
    );
}

#[test]
fn same_value_is_shared_not_conflict() {
    let live = created_by(cm(json!({"key": "a", "other": "x"})), "kubectl-client-side-apply");
    let out = apply(Some(&live), &cm(json!({"key": "a"})), "kubectl", false, T1).unwrap();
    assert_eq!(entry(&out, "kubectl")["fieldsV1"], json!({"f:data": {"f:key": {}}}));
    assert!(entry(&out, "kubectl-client-side-apply")["fieldsV1"]["f:data"].get("f:key").is_some());
}

#[test]
fn force_takes_ownership() {
    let live = created_by(cm(json!({"key": "a", "other": "x"})), "helm");
    let out = apply(Some(&live), &cm(json!({"key": "b"})), "kubectl", true, T1).unwrap();
    assert_eq!(out["data"], json!({"key": "b", "other": "x"}));
    let helm = &entry(&out, "helm")["fieldsV1"]["f:data"];
    assert!(helm.get("f:key").is_none());
    assert!(helm.get("f:other").is_some());
    // Apply entries sort before Update entries.
    assert_eq!(out["metadata"]["managedFields"][0]["manager"], "kubectl");
}

#[test]
fn omitted_field_owned_by_other_manager_survives() {
    let live = with_server_meta(apply(None, &cm(json!({"a": "1", "b": "2"})), "kubectl", false, T0).unwrap());
    let live = apply(Some(&live), &cm(json!({"b": "2"})), "other", false, T0).unwrap();
    let out = apply(Some(&live), &cm(json!({"a": "1"})), "kubectl", false, T1).unwrap();
    assert_eq!(out["data"], json!({"a": "1", "b": "2"}));
}

#[test]
fn multiple_conflicts_message() {
    let live = created_by(cm(json!({"a": "1", "b": "2"})), "helm");
    let live = apply(Some(&live), &cm(json!({"c": "3"})), "argo", false, T0).unwrap();
    let err = apply(Some(&live), &cm(json!({"a": "x", "b": "y", "c": "z"})), "kubectl", false, T1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"argo\":\n- .data.c\nconflicts with \"helm\" using v1:\n- .data.a\n- .data.b"
    );
    let ApplyError::Conflict(cs) = &err else { panic!() };
    assert_eq!(cs.len(), 3);
}

fn deploy(image: &str, containers_extra: Option<Value>) -> Value {
    let mut cs = vec![json!({"name": "app", "image": image, "ports": [{"containerPort": 80}]})];
    if let Some(c) = containers_extra {
        cs.push(c);
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "finalizers": ["x/y"]},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": cs,
                        "tolerations": [{"key": "k", "operator": "Exists"}]}}}})
}

#[test]
fn associative_lists_and_atomic_fields() {
    let out = apply(None, &deploy("app:1", Some(json!({"name": "side", "image": "s:1"}))), "helm", false, T0).unwrap();
    let f = &entry(&out, "helm")["fieldsV1"];
    assert_eq!(f["f:metadata"]["f:finalizers"], json!({"v:\"x/y\"": {}}));
    assert_eq!(f["f:spec"]["f:selector"], json!({}));
    assert_eq!(f["f:spec"]["f:template"]["f:spec"]["f:tolerations"], json!({}));
    let app = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
    assert_eq!(app["."], json!({}));
    assert_eq!(app["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"], json!({".": {}, "f:containerPort": {}}));

    // Another applier changing the image conflicts on the keyed path.
    let live = with_server_meta(out);
    let err = apply(Some(&live), &deploy("app:2", None), "kubectl", false, T1).unwrap_err();
    let ApplyError::Conflict(cs) = err else { panic!() };
    assert_eq!(cs[0].field, ".spec.template.spec.containers[name=\"app\"].image");

    // The owner dropping a container removes it; live-only order is kept.
    let out = apply(Some(&live), &deploy("app:2", None), "helm", false, T1).unwrap();
    let cs = out["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0]["image"], "app:2");
    assert_eq!(out["spec"]["replicas"], 2);
}

#[test]
fn list_merge_keeps_items_of_other_managers() {
    let live = with_server_meta(apply(None, &deploy("app:1", None), "helm", false, T0).unwrap());
    let mut patched = live.clone();
    patched["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "inj", "image": "i"}));
    record_update(Some(&live), &mut patched, "injector", T1, None);
    let out = apply(Some(&patched), &deploy("app:3", None), "helm", false, T1).unwrap();
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app", "inj"]);
}

#[test]
fn service_ports_keyed_by_port_and_protocol() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                     "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8080}]}});
    let out = apply(None, &svc, "kubectl", false, T0).unwrap();
    let f = &entry(&out, "kubectl")["fieldsV1"]["f:spec"];
    assert!(f["f:ports"].get("k:{\"port\":80,\"protocol\":\"TCP\"}").is_some(), "{f}");
    assert_eq!(f["f:selector"], json!({}));
}

#[test]
fn custom_resource_lists_are_atomic_maps_granular() {
    let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                    "spec": {"items": [{"name": "a"}], "cfg": {"x": 1}}});
    let out = apply(None, &cr, "kubectl", false, T0).unwrap();
    assert_eq!(entry(&out, "kubectl")["fieldsV1"]["f:spec"], json!({"f:cfg": {"f:x": {}}, "f:items": {}}));
}

#[test]
fn server_metadata_from_config_is_ignored() {
    let live = created_by(cm(json!({"a": "1"})), "creator");
    let mut applied = cm(json!({"a": "1"}));
    applied["metadata"]["resourceVersion"] = json!("999");
    applied["metadata"]["uid"] = json!("other");
    let out = apply(Some(&live), &applied, "kubectl", false, T1).unwrap();
    assert_eq!(out["metadata"]["resourceVersion"], "5");
    assert_eq!(out["metadata"]["uid"], "u-1");
    assert!(entry(&out, "kubectl")["fieldsV1"].get("f:metadata").is_none());

    let mut bad = cm(json!({}));
    bad["metadata"]["managedFields"] = json!([]);
    let e = apply(Some(&live), &bad, "kubectl", false, T1).unwrap_err().to_api_error("configmaps", "", "c");
    assert_eq!((e.code, e.message.as_str()), (400, "metadata.managedFields must be nil"));
}

#[test]
fn objects_without_managed_fields_belong_to_before_first_apply() {
    let live = with_server_meta(cm(json!({"key": "a"})));
    let err = apply(Some(&live), &cm(json!({"key": "b"})), "kubectl", false, T1).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"before-first-apply\" using v1: .data.key");
}

#[test]
fn ignored_fields_keep_live_value() {
    let mut live = created_by(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}}), "c");
    live["status"] = json!({"replicas": 1});
    let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}, "status": {"replicas": 9}});
    let out = apply_with(Some(&live), &applied, &ApplyOptions { manager: "m", now: T1, ignored: &["status"], ..Default::default() }).unwrap();
    assert_eq!(out["status"]["replicas"], 1);
    assert!(entry(&out, "m")["fieldsV1"].get("f:status").is_none());
}

#[test]
fn record_update_create_and_update() {
    let mut o = with_server_meta(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}}));
    record_update(None, &mut o, "kubectl-create", T0, None);
    assert_eq!(
        entry(&o, "kubectl-create"),
        &json!({"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}}})
    );

    // A no-op write adds no entry.
    let mut same = o.clone();
    record_update(Some(&o), &mut same, "noop", T1, None);
    assert_eq!(same["metadata"]["managedFields"].as_array().unwrap().len(), 1);

    // Another writer takes the field it changed; a removed field leaves every set.
    let mut upd = o.clone();
    upd["data"]["k"] = json!("w");
    upd["metadata"]["labels"].as_object_mut().unwrap().remove("a");
    record_update(Some(&o), &mut upd, "editor", T1, None);
    assert_eq!(entry(&upd, "editor")["fieldsV1"], json!({"f:data": {"f:k": {}}}));
    assert_eq!(entry(&upd, "editor")["time"], T1);
    // A member without children encodes as `{}`.
    assert_eq!(entry(&upd, "kubectl-create")["fieldsV1"], json!({"f:data": {}, "f:metadata": {"f:labels": {}}}));
}

#[test]
fn record_update_subresource_entry() {
    let o = created_by(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}}), "c");
    let mut s = o.clone();
    s["status"] = json!({"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]});
    record_update(Some(&o), &mut s, "kube-controller-manager", T1, Some("status"));
    let e = entry(&s, "kube-controller-manager");
    assert_eq!(e["subresource"], "status");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {".": {}, "f:status": {}, "f:type": {}}}, "f:replicas": {}}})
    );
}
