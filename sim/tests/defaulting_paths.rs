//! Property-style check over every built-in kind with a pod template: whatever write path
//! carries the same intent (create, PUT, JSON / merge / strategic-merge patch, server-side
//! apply after a client-side-apply ownership hand-over, status, scale), the stored spec is
//! the one create stored — kube-apiserver defaults every decoded object, so a body without
//! the defaulted fields never drops them — and the owning controller stays at its fixed
//! point: no new ReplicaSet or ControllerRevision, the same revision, after every write.

mod common;

use common::Harness;
use serde_json::{json, Map, Value};

const NS: &str = "prop";

struct Kind {
    prefix: &'static str,
    plural: &'static str,
    kind: &'static str,
    api_version: &'static str,
    scale: bool,
}

impl Kind {
    /// The field that holds the intent: a PodTemplate has its template at the top level.
    fn body(&self) -> &'static str {
        if self.kind == "PodTemplate" { "template" } else { "spec" }
    }
}

const KINDS: &[Kind] = &[
    Kind { prefix: "/apis/apps/v1", plural: "deployments", kind: "Deployment", api_version: "apps/v1", scale: true },
    Kind { prefix: "/apis/apps/v1", plural: "replicasets", kind: "ReplicaSet", api_version: "apps/v1", scale: true },
    Kind { prefix: "/apis/apps/v1", plural: "statefulsets", kind: "StatefulSet", api_version: "apps/v1", scale: true },
    Kind { prefix: "/apis/apps/v1", plural: "daemonsets", kind: "DaemonSet", api_version: "apps/v1", scale: false },
    Kind { prefix: "/apis/batch/v1", plural: "jobs", kind: "Job", api_version: "batch/v1", scale: false },
    Kind { prefix: "/apis/batch/v1", plural: "cronjobs", kind: "CronJob", api_version: "batch/v1", scale: false },
    Kind { prefix: "/api/v1", plural: "pods", kind: "Pod", api_version: "v1", scale: false },
    Kind { prefix: "/api/v1", plural: "replicationcontrollers", kind: "ReplicationController", api_version: "v1", scale: true },
    Kind { prefix: "/api/v1", plural: "podtemplates", kind: "PodTemplate", api_version: "v1", scale: false },
];

/// Pod specs as users write them: no defaults, and fields whose defaulting is nested
/// (probes, handlers, volume sources, fieldRefs, ports, untagged images).
fn pod_specs(app: &str) -> Vec<Value> {
    vec![
        json!({"containers": [{"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}),
        json!({
            "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
            "containers": [{
                "name": "c", "image": "registry.local:5000/app",
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "readinessProbe": {"httpGet": {"port": 8080}},
                "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 5},
                "lifecycle": {"preStop": {"httpGet": {"port": 8080, "path": "/quit"}}},
                "resources": {"limits": {"cpu": "100m"}},
                "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}, {"name": "scratch", "mountPath": "/tmp"}, {"name": "tok", "mountPath": "/tok"}]
            }],
            "volumes": [
                {"name": "cfg", "configMap": {"name": format!("{app}-cfg")}},
                {"name": "scratch"},
                {"name": "tok", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
            ],
            "restartPolicy": "Always"
        }),
        json!({
            "hostNetwork": true,
            "securityContext": {"runAsNonRoot": true},
            "containers": [{
                "name": "c", "image": "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "ports": [{"containerPort": 8443, "hostPort": 8443, "name": "https"}],
                "envFrom": [{"configMapRef": {"name": format!("{app}-env")}}],
                "startupProbe": {"exec": {"command": ["true"]}},
                "resources": {"requests": {"memory": "64Mi"}}
            }],
            "volumes": [
                {"name": "s", "secret": {"secretName": format!("{app}-s")}},
                {"name": "d", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "e", "emptyDir": {}}
            ],
            "tolerations": [{"key": "k", "operator": "Exists"}]
        }),
    ]
}

/// The intent for `kind` named `name` around pod spec `spec`.
fn intent(k: &Kind, name: &str, spec: &Value) -> Value {
    let labels = json!({"app": name});
    let mut spec = spec.clone();
    let template = |spec: &Value| json!({"metadata": {"labels": labels}, "spec": spec});
    let body = match k.kind {
        "Pod" => {
            // Unscheduled (no scheduler by that name) and without admission-added volumes,
            // so only defaulting shapes the stored spec.
            spec["schedulerName"] = json!("none");
            spec["serviceAccountName"] = json!("default");
            spec["automountServiceAccountToken"] = json!(false);
            return json!({"apiVersion": k.api_version, "kind": k.kind, "metadata": {"name": name, "labels": labels}, "spec": spec});
        }
        "Job" | "CronJob" => {
            spec["restartPolicy"] = json!("Never");
            let job = json!({"template": template(&spec)});
            if k.kind == "Job" { job } else { json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": job}}) }
        }
        "StatefulSet" => json!({
            "serviceName": name, "replicas": 1, "selector": {"matchLabels": labels}, "template": template(&spec),
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }),
        "DaemonSet" => json!({"selector": {"matchLabels": labels}, "template": template(&spec)}),
        "ReplicationController" => json!({"replicas": 1, "selector": labels, "template": template(&spec)}),
        "PodTemplate" => {
            return json!({"apiVersion": k.api_version, "kind": k.kind, "metadata": {"name": name, "labels": labels}, "template": template(&spec)});
        }
        _ => json!({"replicas": 1, "selector": {"matchLabels": labels}, "template": template(&spec)}),
    };
    json!({"apiVersion": k.api_version, "kind": k.kind, "metadata": {"name": name, "labels": labels}, "spec": body})
}

/// What must not change between write paths: the spec (a PodTemplate's template) and the labels.
fn norm(obj: &Value) -> Value {
    json!({"labels": obj.pointer("/metadata/labels"), "spec": obj.get("spec"), "template": obj.get("template")})
}

/// A merge patch that sets every field create defaulted (present in `stored`, absent from
/// `intent`) back to null, and replaces lists that differ with the intent's.
fn undefault_patch(stored: &Value, intent: &Value) -> Value {
    match (stored, intent) {
        (Value::Object(s), Value::Object(i)) => {
            let mut out = Map::new();
            for (k, sv) in s {
                match i.get(k) {
                    None => {
                        out.insert(k.clone(), Value::Null);
                    }
                    Some(iv) if iv != sv => {
                        let p = undefault_patch(sv, iv);
                        if !p.as_object().is_some_and(|m| m.is_empty()) {
                            out.insert(k.clone(), p);
                        }
                    }
                    Some(_) => {}
                }
            }
            Value::Object(out)
        }
        _ => intent.clone(),
    }
}

/// Wait until the cluster stops writing (no resourceVersion change for 100ms, at most 10s):
/// the controllers have reacted to the last write.
async fn settle(h: &Harness) {
    let store = &h.sim.api().store;
    for _ in 0..100 {
        let rv = store.current_rv();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if store.current_rv() == rv {
            return;
        }
    }
}

/// What the owning controller made for `kind`/`name`: the names of its ReplicaSets or
/// ControllerRevisions, and its revision (a Deployment's annotation, a StatefulSet's
/// updateRevision, a DaemonSet's newest ControllerRevision).
fn owned_state(h: &Harness, k: &Kind, name: &str) -> (Vec<String>, Value) {
    let store = &h.sim.api().store;
    let owned_by = |key: &str| -> Vec<String> {
        let (items, _) = store.list(key, Some(NS));
        let mut names: Vec<String> = items.iter()
            .filter(|o| o.pointer("/metadata/ownerReferences/0/kind") == Some(&json!(k.kind)) && o.pointer("/metadata/ownerReferences/0/name") == Some(&json!(name)))
            .map(|o| o["metadata"]["name"].as_str().unwrap_or_default().to_string())
            .collect();
        names.sort();
        names
    };
    let group = k.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let obj = store.get(&cleanroom_sim::registry::ResourceType::storage_key(group, k.plural), NS, name);
    let at = |p: &str| obj.as_ref().and_then(|o| o.pointer(p).cloned()).unwrap_or(Value::Null);
    match k.kind {
        "Deployment" => (owned_by("apps/replicasets"), at("/metadata/annotations/deployment.kubernetes.io~1revision")),
        "StatefulSet" => (owned_by("apps/controllerrevisions"), at("/status/updateRevision")),
        "DaemonSet" => {
            let revs = owned_by("apps/controllerrevisions");
            let newest = revs.last().cloned().map(Value::from).unwrap_or(Value::Null);
            (revs, newest)
        }
        _ => (Vec::new(), Value::Null),
    }
}

struct Client {
    kube: kube::Client,
}

impl Client {
    /// PUT with the current resourceVersion, retried when a controller wrote in between.
    async fn put(&self, path: &str, body: &Value) -> Value {
        let get_path = path.split('?').next().unwrap().trim_end_matches("/status");
        for _ in 0..50 {
            let mut b = body.clone();
            b["metadata"]["resourceVersion"] = self.get(get_path).await["metadata"]["resourceVersion"].clone();
            if path.ends_with("/status") {
                b["status"] = self.get(get_path).await.get("status").cloned().unwrap_or(json!({}));
            }
            match self.try_send("PUT", path, "application/json", &b).await {
                Ok(v) => return v,
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => panic!("PUT {path} failed: {e}\nbody: {b:#}"),
            }
        }
        panic!("PUT {path}: conflicts never ended")
    }
    async fn try_send(&self, method: &str, path: &str, content_type: &str, body: &Value) -> Result<Value, kube::Error> {
        let req = http::Request::builder().method(method).uri(path).header("content-type", content_type)
            .body(serde_json::to_vec(body).unwrap()).unwrap();
        self.kube.request::<Value>(req).await
    }
    async fn send(&self, method: &str, path: &str, content_type: &str, body: &Value) -> Value {
        let req = http::Request::builder().method(method).uri(path).header("content-type", content_type)
            .body(serde_json::to_vec(body).unwrap()).unwrap();
        match self.kube.request::<Value>(req).await {
            Ok(v) => v,
            Err(e) => panic!("{method} {path} ({content_type}) failed: {e}\nbody: {body:#}"),
        }
    }
    async fn get(&self, path: &str) -> Value {
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        self.kube.request::<Value>(req).await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_path_stores_what_create_stores() {
    let h = Harness::start().await;
    let c = Client { kube: h.sim.client() };
    c.send("POST", "/api/v1/namespaces", "application/json", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})).await;
    let mut checked = 0;
    for k in KINDS {
        for (i, spec) in pod_specs("x").iter().enumerate() {
            let name = format!("{}-{i}", k.kind.to_lowercase());
            let coll = format!("{}/namespaces/{NS}/{}", k.prefix, k.plural);
            let path = format!("{coll}/{name}");
            let body = intent(k, &name, spec);
            let created = c.send("POST", &format!("{coll}?fieldManager=creator"), "application/json", &body).await;
            let want = norm(&created);
            let dns = ["/spec/template/spec/dnsPolicy", "/spec/jobTemplate/spec/template/spec/dnsPolicy", "/spec/dnsPolicy", "/template/spec/dnsPolicy"];
            assert_eq!(dns.iter().find_map(|p| created.pointer(p)), Some(&json!("ClusterFirst")), "{} not defaulted on create: {want:#}", k.kind);
            if k.kind == "CronJob" {
                // A struct-typed field kube-apiserver encodes even when empty.
                assert_eq!(created.pointer("/spec/jobTemplate/metadata"), Some(&json!({})), "{want:#}");
            }
            // A Job's generated selector and template labels are part of what a client sends back.
            let mut update = body.clone();
            if k.kind == "Job" {
                update["spec"]["selector"] = created["spec"]["selector"].clone();
                update["spec"]["template"]["metadata"]["labels"] = created["spec"]["template"]["metadata"]["labels"].clone();
            }
            // So are what admission plugins (ServiceAccount, DefaultTolerationSeconds,
            // Priority) added to a Pod on create: they are not defaults.
            if k.kind == "Pod" {
                for f in ["serviceAccount", "tolerations", "priority", "preemptionPolicy"] {
                    update["spec"][f] = created["spec"][f].clone();
                }
            }
            settle(&h).await;
            let made = owned_state(&h, k, &name);
            if matches!(k.kind, "Deployment" | "StatefulSet" | "DaemonSet") {
                assert!(made.0.len() == 1 && !made.1.is_null(), "{} {name}: one ReplicaSet or ControllerRevision and a revision: {made:?}", k.kind);
            }
            let check = async |what: &str, got: &Value| {
                assert_eq!(norm(got), want, "{} {name}: {what} stored something else than create", k.kind);
                settle(&h).await;
                assert_eq!(owned_state(&h, k, &name), made, "{} {name}: its controller moved after {what}", k.kind);
            };

            // PUT of the undefaulted intent.
            check("PUT", &c.put(&format!("{path}?fieldManager=creator"), &update).await).await;
            // JSON patch replacing the whole spec.
            let body = k.body();
            let jp = json!([{"op": "replace", "path": format!("/{body}"), "value": update[body]}]);
            check("JSON patch", &c.send("PATCH", &format!("{path}?fieldManager=creator"), "application/json-patch+json", &jp).await).await;
            // Merge and strategic-merge patches that null every defaulted field.
            let undo = json!({body: undefault_patch(&created[body], &update[body])});
            check("merge patch", &c.send("PATCH", &format!("{path}?fieldManager=creator"), "application/merge-patch+json", &undo).await).await;
            check("strategic merge patch", &c.send("PATCH", &format!("{path}?fieldManager=creator"), "application/strategic-merge-patch+json", &undo).await).await;
            // Server-side apply after kubectl's client-side → server-side ownership hand-over:
            // the applier then owns the defaulted fields it does not send.
            let cur = c.get(&path).await;
            let handed: Vec<Value> = cur["metadata"]["managedFields"].as_array().unwrap().iter().map(|e| {
                let mut e = e.clone();
                if e["manager"] == "creator" && e.get("subresource").is_none() {
                    e["manager"] = json!("applier");
                    e["operation"] = json!("Apply");
                }
                e
            }).collect();
            let mf = json!([{"op": "replace", "path": "/metadata/managedFields", "value": handed}]);
            c.send("PATCH", &path, "application/json-patch+json", &mf).await;
            check("server-side apply", &c.send("PATCH", &format!("{path}?fieldManager=applier&force=true"), "application/apply-patch+yaml", &update).await).await;
            // Status writes never touch the spec.
            if k.kind != "PodTemplate" {
                check("PUT status", &c.put(&format!("{path}/status"), &update).await).await;
                check("merge-patch status", &c.send("PATCH", &format!("{path}/status"), "application/merge-patch+json", &json!({"status": {}})).await).await;
            }
            if k.scale {
                c.send("PATCH", &format!("{path}/scale"), "application/merge-patch+json", &json!({"spec": {"replicas": 2}})).await;
                c.send("PATCH", &format!("{path}/scale"), "application/merge-patch+json", &json!({"spec": {"replicas": 1}})).await;
                check("scale", &c.get(&path).await).await;
            }
            checked += 1;
        }
    }
    assert_eq!(checked, KINDS.len() * pod_specs("x").len());
    // The Deployment controller reached a fixed point: one ReplicaSet per Deployment.
    let mut rx = h.sim.api().store.subscribe();
    let owned = || {
        let (items, _) = h.sim.api().store.list("apps/replicasets", Some(NS));
        items.iter().filter(|r| r.pointer("/metadata/ownerReferences/0/kind") == Some(&json!("Deployment"))).count()
    };
    let wait = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while owned() < pod_specs("x").len() {
            let _ = rx.recv().await;
        }
    });
    wait.await.expect("the Deployments get their ReplicaSets");
    assert_eq!(owned(), pod_specs("x").len());
}
