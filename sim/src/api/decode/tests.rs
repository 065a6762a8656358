use serde_json::json;

use super::*;

fn deployment(spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sm", "labels": {"app": "sm"}}, "spec": spec})
}

fn json_err(kind: (&str, &str, &str), obj: &Value) -> String {
    check(kind.0, kind.1, kind.2, obj, Decoder::Json).unwrap_err().0
}

const DEPLOY: (&str, &str, &str) = ("apps", "v1", "Deployment");

#[test]
fn json_decoder_names_struct_path_and_type() {
    let d = deployment(json!({"replicas": "two"}));
    assert_eq!(json_err(DEPLOY, &d), "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32");
    let d = deployment(json!({"replicas": 1.5}));
    assert_eq!(json_err(DEPLOY, &d), "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32");
    let d = deployment(json!({"template": {"spec": {"containers": [{"name": "c", "image": 5}], "restartPolicy": 1}}}));
    assert_eq!(json_err(DEPLOY, &d), "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.image of type string");
    let d = deployment(json!({"template": {"spec": {"containers": "c"}}}));
    assert_eq!(json_err(DEPLOY, &d), "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container");
    let d = deployment(json!({"template": {"spec": {"containers": [{"name": "c", "resources": {"limits": "1"}}]}}}));
    assert_eq!(json_err(DEPLOY, &d), "json: cannot unmarshal string into Go struct field ResourceRequirements.spec.template.spec.containers.resources.limits of type v1.ResourceList");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": true}}});
    assert_eq!(json_err(("", "v1", "ConfigMap"), &cm), "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"restartPolicy": 3}});
    assert_eq!(json_err(("", "v1", "Pod"), &pod), "json: cannot unmarshal number into Go struct field PodSpec.spec.restartPolicy of type v1.RestartPolicy");
}

#[test]
fn json_decoder_accepts_what_go_accepts() {
    let d = deployment(json!({
        "replicas": 2, "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"cpu": 1, "memory": "64Mi"}, "requests": {"cpu": "100m"}},
            "ports": [{"containerPort": 80}], "unknownField": {"x": 1}}]}},
        "bogus": [1, 2]}));
    assert_eq!(check("apps", "v1", "Deployment", &d, Decoder::Json), Ok(()));
    let s = json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "aGVsbG8=", "b": null}});
    assert_eq!(check("", "v1", "Secret", &s, Decoder::Json), Ok(()));
    let cr = json!({"apiVersion": "x.io/v1", "kind": "Widget", "spec": {"replicas": "two"}});
    assert_eq!(check("x.io", "v1", "Widget", &cr, Decoder::Json), Ok(()));
    let cr = json!({"apiVersion": "networking.example.com/v1", "kind": "Ingress", "spec": {"rules": "any"}});
    assert_eq!(check("networking.example.com", "v1", "Ingress", &cr, Decoder::Json), Ok(()));
}

#[test]
fn custom_unmarshalers_report_their_own_errors() {
    let d = deployment(json!({"template": {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "2 cores"}}}]}}}));
    assert!(json_err(DEPLOY, &d).starts_with("quantities must match the regular expression"));
    let d = deployment(json!({"strategy": {"rollingUpdate": {"maxSurge": true}}}));
    assert_eq!(json_err(DEPLOY, &d), "json: cannot unmarshal bool into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"creationTimestamp": 5}});
    assert_eq!(json_err(("", "v1", "ConfigMap"), &cm), "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string");
    let s = json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "not base64!"}});
    assert_eq!(json_err(("", "v1", "Secret"), &s), "illegal base64 data at input byte 3");
}

#[test]
fn unstructured_converter_messages() {
    let un = |spec: Value| check("apps", "v1", "Deployment", &deployment(spec), Decoder::Unstructured).map_err(|e| e.0);
    assert_eq!(un(json!({"replicas": "two"})), Err("unrecognized type: int32".into()));
    assert_eq!(un(json!({"replicas": 2.0})), Ok(()));
    assert_eq!(un(json!({"replicas": 2.5})), Err("cannot convert float64 to int32".into()));
    assert_eq!(un(json!({"template": {"spec": {"containers": [{"name": 5}]}}})), Err("cannot convert int64 to string".into()));
    assert_eq!(un(json!({"template": {"spec": {"containers": {"name": "x"}}}})), Err("cannot restore slice from map".into()));
    assert_eq!(un(json!({"selector": "app=x"})), Err("cannot restore struct from: string".into()));
}

#[test]
fn apply_validation_messages() {
    let ap = |spec: Value| check_apply("apps", "v1", "Deployment", &deployment(spec)).map_err(|e| e.0);
    assert_eq!(ap(json!({"replicas": "two"})), Err(".spec.replicas: expected numeric (int or float), got string".into()));
    assert_eq!(ap(json!({"paused": "yes"})), Err(".spec.paused: expected boolean, got &{yes}".into()));
    assert_eq!(
        ap(json!({"template": {"spec": {"containers": [{"name": "c", "image": 5}]}}})),
        Err(".spec.template.spec.containers[name=\"c\"].image: expected string, got &value.valueUnstructured{Value:5}".into())
    );
    assert_eq!(ap(json!({"replicas": 1, "bogus": 1})), Err(".spec.bogus: field not declared in schema".into()));
    assert_eq!(ap(json!({"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1}}}]}}})), Ok(()));
}

#[test]
fn go_value_rendering() {
    assert_eq!(go_v(&json!({"spec": {"replicas": "two", "b": [1, 2.5, true, null]}})), "map[spec:map[b:[1 2.5 true <nil>] replicas:two]]");
    assert_eq!(go_v(&json!(1234567.5)), "1.2345675e+06");
}
