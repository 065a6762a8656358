//! `ValidatePodEphemeralContainersUpdate` (pkg/apis/core/validation): what a write to
//! `pods/<name>/ephemeralcontainers` may change. The subresource's strategy already kept
//! everything but `spec.ephemeralContainers` from the stored pod.

use serde_json::{json, Value};

use crate::api::errors::Cause;

/// EphemeralContainerCommon fields an ephemeral container may not set
/// (everything outside `allowedEphemeralContainerFields`).
const FORBIDDEN: &[&str] = &["ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "resources", "resizePolicy", "restartPolicy"];

fn list<'a>(pod: &'a Value, key: &str) -> &'a [Value] {
    pod.pointer(&format!("/spec/{key}")).and_then(|v| v.as_array()).map(|a| a.as_slice()).unwrap_or(&[])
}

fn name(c: &Value) -> &str {
    c.get("name").and_then(|n| n.as_str()).unwrap_or("")
}

pub fn validate_ephemeral_containers_update(old: &Value, new: &Value) -> Vec<Cause> {
    if old.pointer("/metadata/annotations/kubernetes.io~1config.mirror").is_some() {
        return vec![Cause::forbidden("", "static pods do not support ephemeral containers")];
    }
    let mut causes = Vec::new();
    // validateEphemeralContainers: names unique across all containers, required fields,
    // the allow-list, and a target container that exists.
    let regular: Vec<&str> = list(new, "containers").iter().chain(list(new, "initContainers")).map(name).collect();
    let mut seen: Vec<&str> = regular.clone();
    for (i, c) in list(new, "ephemeralContainers").iter().enumerate() {
        let path = format!("spec.ephemeralContainers[{i}]");
        let n = name(c);
        if n.is_empty() {
            causes.push(Cause::required(&format!("{path}.name")));
        } else if seen.contains(&n) {
            causes.push(Cause::duplicate(&format!("{path}.name"), &json!(n)));
        } else {
            seen.push(n);
        }
        if c.get("image").and_then(|i| i.as_str()).is_none_or(|i| i.is_empty()) {
            causes.push(Cause::required(&format!("{path}.image")));
        }
        for f in FORBIDDEN {
            if c.get(*f).is_some_and(|v| !v.is_null() && v != &json!({}) && v != &json!([])) {
                causes.push(Cause::forbidden(&format!("{path}.{f}"), "cannot be set for an Ephemeral Container"));
            }
        }
        if let Some(t) = c.get("targetContainerName").and_then(|t| t.as_str()).filter(|t| !t.is_empty())
            && !regular.contains(&t)
        {
            causes.push(Cause::new("FieldValueNotFound", format!("Not found: {t:?}"), format!("{path}.targetContainerName")));
        }
    }
    // Existing ephemeral containers may be neither removed nor changed.
    let new_list = list(new, "ephemeralContainers");
    for o in list(old, "ephemeralContainers") {
        match new_list.iter().find(|c| name(c) == name(o)) {
            None => causes.push(Cause::forbidden("spec.ephemeralContainers", &format!("existing ephemeral containers {:?} may not be removed\n", name(o)))),
            Some(c) if c != o => causes.push(Cause::forbidden("spec.ephemeralContainers", &format!("existing ephemeral containers {:?} may not be changed\n", name(o)))),
            Some(_) => {}
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(eph: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "nginx"}], "ephemeralContainers": eph}})
    }

    #[test]
    fn adding_is_allowed_changing_and_removing_are_not() {
        let dbg = json!({"name": "dbg", "image": "busybox", "targetContainerName": "app"});
        assert!(validate_ephemeral_containers_update(&pod(json!([])), &pod(json!([dbg.clone()]))).is_empty());
        let removed = validate_ephemeral_containers_update(&pod(json!([dbg.clone()])), &pod(json!([])));
        assert_eq!(removed[0].render(), "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be removed\n");
        let changed = json!({"name": "dbg", "image": "alpine", "targetContainerName": "app"});
        let r = validate_ephemeral_containers_update(&pod(json!([dbg])), &pod(json!([changed])));
        assert!(r[0].render().starts_with("spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be changed"));
    }

    #[test]
    fn ephemeral_container_rules() {
        let bad = json!([{"name": "app", "image": "", "ports": [{"containerPort": 80}], "targetContainerName": "nope"}]);
        let r: Vec<String> = validate_ephemeral_containers_update(&pod(json!([])), &pod(bad)).iter().map(|c| c.render()).collect();
        assert_eq!(r, vec![
            "spec.ephemeralContainers[0].name: Duplicate value: \"app\"",
            "spec.ephemeralContainers[0].image: Required value",
            "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container",
            "spec.ephemeralContainers[0].targetContainerName: Not found: \"nope\"",
        ]);
    }
}
