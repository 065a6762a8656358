use serde_json::json;

use super::*;

fn smp(target: Value, patch: Value, av: &str, kind: &str) -> Value {
    apply_strategic_merge_patch(&target, &patch, av, kind).expect("smp")
}

fn deploy() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {"replicas": 1, "template": {"spec": {
            "containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                {"name": "side", "image": "side:1"}
            ],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
            "volumes": [{"name": "v1", "emptyDir": {}}]
        }}}
    })
}

#[test]
fn content_types() {
    assert_eq!(PatchType::from_content_type("application/json-patch+json"), Some(PatchType::Json));
    assert_eq!(PatchType::from_content_type("application/merge-patch+json; charset=utf-8"), Some(PatchType::Merge));
    assert_eq!(PatchType::from_content_type("application/strategic-merge-patch+json"), Some(PatchType::StrategicMerge));
    assert_eq!(PatchType::from_content_type("application/apply-patch+yaml"), Some(PatchType::Apply));
    assert_eq!(PatchType::from_content_type("application/apply-patch+cbor"), None);
    assert_eq!(PatchType::from_content_type("application/json"), None);
}

#[test]
fn smp_supported_only_for_builtin_groups() {
    assert!(smp_supported(""));
    assert!(smp_supported("apps"));
    assert!(smp_supported("apiextensions.k8s.io"));
    assert!(!smp_supported("cert-manager.io"));
    let e = unsupported_patch_error("example.com");
    assert_eq!(e.code, 415);
    assert_eq!(
        e.message,
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
}

#[test]
fn json_patch_ops() {
    let t = json!({"data": {"a": "1"}, "list": [1, 2]});
    let p = json!([
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "x"},
        {"op": "add", "path": "/list/-", "value": 3},
        {"op": "test", "path": "/list/0", "value": 1},
        {"op": "remove", "path": "/list/1"}
    ]);
    assert_eq!(apply_json_patch(&t, &p).unwrap(), json!({"data": {"a": "x", "b": "2"}, "list": [1, 3]}));
}

#[test]
fn json_patch_failures_map_to_apiserver_errors() {
    let t = json!({"data": {"a": "1"}});
    let e = apply_json_patch(&t, &json!([{"op": "test", "path": "/data/a", "value": "2"}])).unwrap_err();
    assert!(matches!(e, PatchError::Unprocessable(_)));
    let api = e.to_api_error();
    assert_eq!((api.code, api.reason.as_str()), (422, "Invalid"));
    assert_eq!(api.message, "the server rejected our request due to an error in our request");
    assert_eq!(api.to_status()["details"], json!({}));

    for bad in [
        json!([{"op": "remove", "path": "/data/missing"}]),
        json!([{"op": "replace", "path": "/nope/x", "value": 1}]),
        json!([{"op": "bogus", "path": "/data"}]),
        json!([{"path": "/data"}]),
    ] {
        assert_eq!(apply_json_patch(&t, &bad).unwrap_err().to_api_error().code, 422, "{bad}");
    }
    let e = apply_json_patch(&t, &json!({"op": "add"})).unwrap_err().to_api_error();
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    assert_eq!(e.message, "json: cannot unmarshal object into Go value of type jsonpatch.Patch");

    let many: Vec<Value> = (0..10001).map(|_| json!({"op": "test", "path": "/data/a", "value": "1"})).collect();
    let e = apply_json_patch(&t, &Value::Array(many)).unwrap_err().to_api_error();
    assert_eq!(e.code, 413);
    assert_eq!(e.message, "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001");
}

#[test]
fn merge_patch_rfc7386() {
    let t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
    let p = json!({"a": "z", "c": {"f": null, "n": {"x": null, "y": 1}}, "l": [3]});
    assert_eq!(apply_merge_patch(&t, &p), json!({"a": "z", "c": {"d": "e", "n": {"y": 1}}, "l": [3]}));
    assert_eq!(apply_merge_patch(&t, &json!(["x"])), json!(["x"]));
    assert_eq!(apply_merge_patch(&json!("s"), &json!({"a": 1})), json!({"a": 1}));
}

#[test]
fn smp_merges_containers_by_name_and_env_by_name() {
    let out = smp(deploy(), json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]},
        {"name": "new", "image": "new:1"}
    ]}}}}), "apps/v1", "Deployment");
    let cs = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(cs.as_array().unwrap().len(), 3);
    assert_eq!(cs[0]["name"], "app");
    assert_eq!(cs[0]["image"], "app:2");
    assert_eq!(cs[0]["ports"][0]["containerPort"], 80);
    assert_eq!(cs[0]["env"], json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]));
    // mergeSortedSlice: new patch items are placed before later server-only items.
    assert_eq!(cs[1]["name"], "new");
    assert_eq!(cs[2]["name"], "side");
    assert_eq!(out["spec"]["replicas"], 1);
}

#[test]
fn smp_tolerations_replace_and_null_deletes() {
    let out = smp(deploy(), json!({
        "metadata": {"labels": {"app": null, "tier": "fe"}},
        "spec": {"replicas": null, "template": {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}}}
    }), "apps/v1", "Deployment");
    assert_eq!(out["spec"]["template"]["spec"]["tolerations"], json!([{"key": "k2", "operator": "Exists"}]));
    assert_eq!(out["metadata"]["labels"], json!({"tier": "fe"}));
    assert!(out["spec"].get("replicas").is_none());
}

#[test]
fn smp_delete_and_replace_directives() {
    let out = smp(deploy(), json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}}), "apps/v1", "Deployment");
    let cs = out["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0]["name"], "app");

    let out = smp(deploy(), json!({"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "o"}, {"$patch": "replace"}]}}}}), "apps/v1", "Deployment");
    assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "only", "image": "o"}]));

    let out = smp(deploy(), json!({"metadata": {"labels": {"$patch": "replace", "x": "y"}}}), "apps/v1", "Deployment");
    assert_eq!(out["metadata"]["labels"], json!({"x": "y"}));

    let out = smp(deploy(), json!({"spec": {"template": {"$patch": "delete"}}}), "apps/v1", "Deployment");
    assert_eq!(out["spec"]["template"], json!({}));

    let e = apply_strategic_merge_patch(&deploy(), &json!({"metadata": {"$patch": "bogus"}}), "apps/v1", "Deployment").unwrap_err();
    assert_eq!(e.to_api_error().code, 500);
    assert!(e.to_string().starts_with("unknown patch type: bogus in map: map["), "{e}");
}

#[test]
fn smp_finalizers_set_merge_and_delete_from_primitive_list() {
    let out = smp(deploy(), json!({"metadata": {"finalizers": ["c", "a"]}}), "apps/v1", "Deployment");
    // Patch items keep patch order; server-only items are interleaved by live position.
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
    let out = smp(deploy(), json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}), "apps/v1", "Deployment");
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    let e = apply_strategic_merge_patch(&deploy(), &json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}), "apps/v1", "Deployment").unwrap_err();
    assert_eq!(e.to_api_error().code, 400);
    assert_eq!(e.to_string(), "invalid patch format of primitive list");
}

#[test]
fn smp_set_element_order() {
    let out = smp(deploy(), json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
        "containers": [{"name": "side", "image": "side:2"}]
    }}}}), "apps/v1", "Deployment");
    let cs = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(cs[0]["name"], "side");
    assert_eq!(cs[0]["image"], "side:2");
    assert_eq!(cs[1]["name"], "app");
    assert!(out["spec"]["template"]["spec"].get("$setElementOrder/containers").is_none());
}

#[test]
fn smp_retain_keys() {
    let t = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let out = smp(t.clone(), json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}), "apps/v1", "Deployment");
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let e = apply_strategic_merge_patch(&t, &json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}), "apps/v1", "Deployment").unwrap_err();
    assert_eq!((e.to_api_error().code, e.to_string()), (400, "invalid patch format of retainKeys".to_string()));
}

#[test]
fn smp_ports_keyed_by_context() {
    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}});
    let out = smp(svc, json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}), "v1", "Service");
    assert_eq!(out["spec"]["ports"].as_array().unwrap().len(), 2);
    assert_eq!(out["spec"]["ports"][0]["targetPort"], 9090);

    let pod = json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}, {"containerPort": 81}]}]}});
    let out = smp(pod, json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 81, "name": "x"}]}]}}), "v1", "Pod");
    assert_eq!(out["spec"]["containers"][0]["ports"], json!([{"containerPort": 80}, {"containerPort": 81, "name": "x"}]));

    // A list without merge key in the schema is replaced.
    let np = json!({"spec": {"ingress": [{"ports": [{"port": 1}]}]}});
    let out = smp(np, json!({"spec": {"ingress": [{"ports": [{"port": 2}]}]}}), "networking.k8s.io/v1", "NetworkPolicy");
    assert_eq!(out["spec"]["ingress"], json!([{"ports": [{"port": 2}]}]));
}

#[test]
fn smp_missing_merge_key_is_500_with_go_text() {
    let e = apply_strategic_merge_patch(&deploy(), &json!({"spec": {"template": {"spec": {"containers": [{"image": "httpd"}]}}}}), "apps/v1", "Deployment").unwrap_err();
    assert_eq!(e.to_string(), "map: map[image:httpd] does not contain declared merge key: name");
    let api = e.to_api_error();
    assert_eq!(api.code, 500);
    assert!(api.to_status().get("reason").is_none());
}

#[test]
fn smp_new_values_are_cleaned_and_non_object_rejected() {
    let out = smp(json!({"spec": {}}), json!({"spec": {"template": {"metadata": {"labels": {"a": "b", "n": null}}}}}), "apps/v1", "Deployment");
    assert_eq!(out["spec"]["template"], json!({"metadata": {"labels": {"a": "b"}}}));
    let e = apply_strategic_merge_patch(&deploy(), &json!([1]), "apps/v1", "Deployment").unwrap_err();
    assert_eq!((e.to_api_error().code, e.to_string()), (400, "invalid JSON document".to_string()));
    let e = apply_strategic_merge_patch(&json!({"metadata": {"finalizers": []}}), &json!({"metadata": {"finalizers": [["x"]]}}), "v1", "ConfigMap").unwrap_err();
    assert_eq!(e.to_api_error().code, 422);
    // Mixed element types: a plain Go error.
    let e = apply_strategic_merge_patch(&json!({"metadata": {"finalizers": ["a"]}}), &json!({"metadata": {"finalizers": [["x"]]}}), "v1", "ConfigMap").unwrap_err();
    assert_eq!(e.to_string(), "list element types are not identical: [[a] [[x]]]");
}

#[test]
fn smp_whole_object_replace() {
    let out = smp(deploy(), json!({"$patch": "replace", "kind": "Deployment"}), "apps/v1", "Deployment");
    assert_eq!(out, json!({"kind": "Deployment"}));
}

#[test]
fn go_fmt_matches_go_verbs() {
    assert_eq!(go_fmt(&json!({"b": [1, "x"], "a": null})), "map[a:<nil> b:[1 x]]");
}

#[test]
fn json_patch_reads_missing_keys_as_null_like_evanphx_v4() {
    let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
    let p = apply_json_patch(&cm, &json!([{"op": "replace", "path": "/metadata/labels", "value": {"x": "y"}}, {"op": "replace", "path": "/data/b", "value": "2"}])).unwrap();
    assert_eq!((&p["metadata"]["labels"], &p["data"]["b"]), (&json!({"x": "y"}), &json!("2")));
    assert!(apply_json_patch(&cm, &json!([{"op": "test", "path": "/data/zz", "value": null}])).is_ok());
    assert!(apply_json_patch(&cm, &json!([{"op": "replace", "path": "/spec/x", "value": 1}])).is_err(), "a missing parent still fails");
    assert!(apply_json_patch(&cm, &json!([{"op": "remove", "path": "/data/nope"}])).is_err());
}
