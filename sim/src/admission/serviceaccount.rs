//! The ServiceAccount admission plugin for pods: default `serviceAccountName`, and the
//! projected `kube-api-access-<suffix>` token volume mounted into every container, as
//! kube-apiserver's `plugin/pkg/admission/serviceaccount` does; a pod naming a ServiceAccount
//! that does not exist is forbidden. Plus the pod's QoS class,
//! which the registry strategy computes on create.

use serde_json::{json, Value};

use crate::server::{random_suffix, AdmissionPlugin, AdmissionRequest, ApiServer, Operation};
use crate::api::errors::{ApiError, ApiResult};

const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

pub struct ServiceAccountAdmission;

impl AdmissionPlugin for ServiceAccountAdmission {
    fn name(&self) -> &str {
        "ServiceAccount"
    }

    fn admit(&self, server: &ApiServer, req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        if req.op != Operation::Create || !req.rt.group.is_empty() || req.rt.kind != "Pod" || req.subresource.is_some() {
            return Ok(());
        }
        let Some(pod) = req.object.as_deref_mut() else { return Ok(()) };
        // Mirror pods of static manifests are left as the kubelet wrote them.
        if pod.pointer("/metadata/annotations/kubernetes.io~1config.mirror").is_some() {
            return Ok(());
        }
        let spec = &mut pod["spec"];
        if spec.get("serviceAccountName").and_then(|s| s.as_str()).is_none_or(|s| s.is_empty()) {
            spec["serviceAccountName"] = json!(spec.get("serviceAccount").and_then(|s| s.as_str()).filter(|s| !s.is_empty()).unwrap_or("default"));
        }
        spec["serviceAccount"] = spec["serviceAccountName"].clone();
        // The referenced ServiceAccount must exist. kube-apiserver retries `default` while the
        // ServiceAccount controller creates it, so only a named one is refused here.
        let sa = spec["serviceAccountName"].as_str().unwrap_or("default").to_string();
        let ns = req.namespace.unwrap_or("default");
        if sa != "default" && server.store.get("serviceaccounts", ns, &sa).is_none() {
            let detail = format!("error looking up service account {ns}/{sa}: serviceaccount {sa:?} not found");
            return Err(ApiError::forbidden("pods", "", req.name, &detail));
        }
        if spec.get("automountServiceAccountToken") != Some(&json!(false)) && !has_token_mount(spec) {
            let vol = format!("kube-api-access-{}", random_suffix(5));
            let volumes = spec.as_object_mut().unwrap().entry("volumes").or_insert_with(|| json!([]));
            if let Some(v) = volumes.as_array_mut() {
                v.push(projected_volume(&vol));
            }
            for key in ["containers", "initContainers"] {
                for c in spec.get_mut(key).and_then(|c| c.as_array_mut()).into_iter().flatten() {
                    let mounts = c.as_object_mut().unwrap().entry("volumeMounts").or_insert_with(|| json!([]));
                    if let Some(m) = mounts.as_array_mut() {
                        m.push(json!({"name": vol, "readOnly": true, "mountPath": MOUNT_PATH}));
                    }
                }
            }
        }
        default_toleration_seconds(spec);
        // The Priority admission plugin (no PriorityClass named: priority 0).
        if spec.get("priority").is_none() {
            spec["priority"] = json!(0);
        }
        if spec.get("preemptionPolicy").is_none() {
            spec["preemptionPolicy"] = json!("PreemptLowerPriority");
        }
        let qos = qos_class(spec);
        pod["status"]["qosClass"] = json!(qos);
        Ok(())
    }
}

/// DefaultTolerationSeconds: tolerate not-ready/unreachable for 300 s unless the pod says otherwise.
fn default_toleration_seconds(spec: &mut Value) {
    let tols = spec.as_object_mut().unwrap().entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = tols.as_array_mut() else { return };
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let covered = list.iter().any(|t| {
            (t["key"] == key || (t.get("key").is_none() && t["operator"] == "Exists"))
                && (t.get("effect").is_none() || t["effect"] == "NoExecute" || t["effect"] == "")
        });
        if !covered {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

fn has_token_mount(spec: &Value) -> bool {
    spec.get("containers").and_then(|c| c.as_array()).into_iter().flatten().any(|c| {
        c.get("volumeMounts").and_then(|m| m.as_array()).into_iter().flatten().any(|m| m["mountPath"] == MOUNT_PATH)
    })
}

fn projected_volume(name: &str) -> Value {
    json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
    ]}})
}

/// v1 QoS: Guaranteed when every container has equal cpu+memory requests and limits,
/// BestEffort when none has any, Burstable otherwise.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| spec.get(*k).and_then(|c| c.as_array()).into_iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(|r| r.as_object());
        let lim = c.pointer("/resources/limits").and_then(|r| r.as_object());
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(res));
            // Requests default to limits when only limits are set.
            let r = req.and_then(|r| r.get(res)).or(l);
            if l.is_none() || r != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos() {
        assert_eq!(qos_class(&json!({"containers": [{"name": "a"}]})), "BestEffort");
        assert_eq!(qos_class(&json!({"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})), "Guaranteed");
        assert_eq!(qos_class(&json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]})), "Burstable");
    }
}
