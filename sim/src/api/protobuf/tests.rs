use super::*;
use serde_json::Value;
use serde_json::json;

/// A minimal protobuf encoder for building test vectors.
#[derive(Default, Clone)]
struct Enc(Vec<u8>);

impl Enc {
    fn varint(mut self, mut v: u64) -> Self {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return self;
            }
            self.0.push(b | 0x80);
        }
    }
    fn key(self, n: u32, wire: u8) -> Self {
        self.varint((u64::from(n) << 3) | u64::from(wire))
    }
    fn bytes(self, n: u32, b: &[u8]) -> Self {
        let mut s = self.key(n, 2).varint(b.len() as u64);
        s.0.extend_from_slice(b);
        s
    }
    fn str(self, n: u32, s: &str) -> Self {
        self.bytes(n, s.as_bytes())
    }
    fn msg(self, n: u32, m: Enc) -> Self {
        self.bytes(n, &m.0)
    }
    fn int(self, n: u32, v: i64) -> Self {
        self.key(n, 0).varint(v as u64)
    }
    fn entry(self, n: u32, k: &str, v: &[u8]) -> Self {
        self.msg(n, Enc::default().str(1, k).bytes(2, v))
    }
    fn double(self, n: u32, v: f64) -> Self {
        let mut s = self.key(n, 1);
        s.0.extend_from_slice(&v.to_le_bytes());
        s
    }
}

fn envelope(api_version: &str, kind: &str, raw: Enc) -> Vec<u8> {
    let tm = Enc::default().str(1, api_version).str(2, kind);
    let u = Enc::default().msg(1, tm).msg(2, raw).str(3, "").str(4, "");
    let mut out = MAGIC.to_vec();
    out.extend(u.0);
    out
}

fn meta() -> Enc {
    Enc::default()
        .str(1, "sh.helm.release.v1.web.v1")
        .str(3, "default")
        .str(5, "")
        .int(7, 0)
        .msg(8, Enc::default())
        .entry(11, "owner", b"helm")
        .entry(11, "status", b"deployed")
        .entry(12, "note", b"x")
        .msg(13, Enc::default().str(1, "Deployment").str(3, "web").str(4, "u-1").str(5, "apps/v1").int(6, 1).int(7, 0))
        .str(14, "example.com/f")
        .msg(
            17,
            Enc::default()
                .str(1, "helm")
                .str(2, "Update")
                .str(3, "v1")
                .msg(4, Enc::default().int(1, 1_700_000_000))
                .str(6, "FieldsV1")
                .msg(7, Enc::default().str(1, r#"{"f:data":{}}"#)),
        )
}

#[test]
fn decodes_helm_release_secret() {
    let raw = Enc::default()
        .msg(1, meta())
        .entry(2, "release", b"\x00\x01hello")
        .str(3, "helm.sh/release.v1")
        .key(5, 0)
        .varint(0);
    let v = decode(&envelope("v1", "Secret", raw)).unwrap();
    assert_eq!(
        v,
        json!({
            "kind": "Secret", "apiVersion": "v1",
            "metadata": {
                "name": "sh.helm.release.v1.web.v1", "namespace": "default",
                "labels": {"owner": "helm", "status": "deployed"},
                "annotations": {"note": "x"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u-1", "controller": true, "blockOwnerDeletion": false}],
                "finalizers": ["example.com/f"],
                "managedFields": [{"manager": "helm", "operation": "Update", "apiVersion": "v1", "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]
            },
            "data": {"release": "AAFoZWxsbw=="},
            "type": "helm.sh/release.v1",
            "immutable": false
        })
    );
    assert!(v["metadata"].get("creationTimestamp").is_none());
}

#[test]
fn decodes_configmap_namespace_event_sa_lease_options() {
    let cm = Enc::default().msg(1, Enc::default().str(1, "c")).entry(2, "k", b"v").entry(3, "b", b"\xff").key(4, 0).varint(1);
    let v = decode(&envelope("v1", "ConfigMap", cm)).unwrap();
    assert_eq!(v["data"], json!({"k": "v"}));
    assert_eq!(v["binaryData"], json!({"b": "/w=="}));
    assert_eq!(v["immutable"], json!(true));

    let ns = Enc::default()
        .msg(1, Enc::default().str(1, "team").msg(8, Enc::default().int(1, 1).int(2, 5)))
        .msg(2, Enc::default().str(1, "kubernetes"))
        .msg(3, Enc::default().str(1, "Active"));
    let v = decode(&envelope("v1", "Namespace", ns)).unwrap();
    assert_eq!(v["metadata"]["creationTimestamp"], json!("1970-01-01T00:00:01Z"));
    assert_eq!(v["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(v["status"]["phase"], json!("Active"));

    let ev = Enc::default()
        .msg(1, Enc::default().str(1, "e1"))
        .msg(2, Enc::default().str(1, "Pod").str(3, "p"))
        .str(3, "Started")
        .msg(5, Enc::default().str(1, "kubelet"))
        .int(8, 3)
        .msg(10, Enc::default().int(1, 86_400).int(2, 123_456_000))
        .str(14, "kubelet");
    let v = decode(&envelope("v1", "Event", ev)).unwrap();
    assert_eq!(v["involvedObject"], json!({"kind": "Pod", "name": "p"}));
    assert_eq!(v["count"], json!(3));
    assert_eq!(v["eventTime"], json!("1970-01-02T00:00:00.123456Z"));
    assert_eq!(v["source"], json!({"component": "kubelet"}));

    let sa = Enc::default().msg(1, Enc::default().str(1, "sa")).msg(3, Enc::default().str(1, "regcred")).key(4, 0).varint(0);
    let v = decode(&envelope("v1", "ServiceAccount", sa)).unwrap();
    assert_eq!(v["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(v["automountServiceAccountToken"], json!(false));

    let lease = Enc::default().msg(1, Enc::default().str(1, "l")).msg(2, Enc::default().str(1, "me").int(2, 15));
    let v = decode(&envelope("coordination.k8s.io/v1", "Lease", lease)).unwrap();
    assert_eq!(v["spec"], json!({"holderIdentity": "me", "leaseDurationSeconds": 15}));

    let del = Enc::default().int(1, 0).str(4, "Background").str(5, "All");
    let v = decode(&envelope("apps/v1", "DeleteOptions", del)).unwrap();
    assert_eq!(v, json!({"kind": "DeleteOptions", "apiVersion": "apps/v1", "gracePeriodSeconds": 0, "propagationPolicy": "Background", "dryRun": ["All"]}));
    let neg = Enc::default().int(1, -1);
    assert_eq!(decode(&envelope("v1", "DeleteOptions", neg)).unwrap()["gracePeriodSeconds"], json!(-1));
}

#[test]
fn rejects_unsupported_and_malformed() {
    let e = decode(&envelope("example.com/v1", "Widget", Enc::default())).unwrap_err();
    assert!(e.is_unsupported());
    assert_eq!(e, ProtobufError::UnsupportedKind { api_version: "example.com/v1".into(), kind: "Widget".into() });
    assert_eq!(decode(b"{}").unwrap_err(), ProtobufError::MissingMagic);
    let mut b = envelope("v1", "Secret", Enc::default().msg(1, meta()));
    b.truncate(b.len() - 3);
    assert!(decode(&b).is_err());
    // A string field sent as a varint.
    let bad = Enc::default().msg(1, Enc::default().int(1, 5));
    assert!(matches!(decode(&envelope("v1", "Secret", bad)).unwrap_err(), ProtobufError::WireType { .. }));
    let tm = Enc::default().str(1, "v1").str(2, "Secret");
    let gz = Enc::default().msg(1, tm).msg(2, Enc::default()).str(3, "gzip");
    let mut body = MAGIC.to_vec();
    body.extend(gz.0);
    assert!(decode(&body).unwrap_err().is_unsupported());
}

#[test]
fn never_panics_on_garbage() {
    // xorshift: deterministic pseudo-random bytes without a rand dependency in tests.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let good = envelope("v1", "Secret", Enc::default().msg(1, meta()).entry(2, "a", b"b").str(3, "Opaque"));
    for len in 0..good.len() {
        let _ = decode(&good[..len]);
    }
    for _ in 0..20_000 {
        let n = (next() % 64) as usize;
        let mut b = MAGIC.to_vec();
        for _ in 0..n {
            b.push(next() as u8);
        }
        let _ = decode(&b);
        // Mutate one byte of a valid message.
        let mut g = good.clone();
        let i = (next() as usize) % g.len();
        g[i] = next() as u8;
        let _ = decode(&g);
    }
    // Huge declared length.
    let mut b = MAGIC.to_vec();
    b.extend([0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(decode(&b).is_err());
}

fn name(n: &str) -> Enc {
    Enc::default().str(1, n)
}
/// IntOrString as an int (type 0) or a string (type 1).
fn ios_int(v: i64) -> Enc {
    Enc::default().int(1, 0).int(2, v)
}
fn ios_str(v: &str) -> Enc {
    Enc::default().int(1, 1).str(3, v)
}
fn quantity(v: &str) -> Vec<u8> {
    Enc::default().str(1, v).0
}

#[test]
fn decodes_service_with_int_or_string_ports() {
    let spec = Enc::default()
        .msg(1, Enc::default().str(1, "80-8080").str(2, "TCP").int(3, 80).msg(4, ios_int(8080)).int(5, 0))
        .msg(1, Enc::default().str(1, "web").str(2, "TCP").int(3, 443).msg(4, ios_str("https")))
        .entry(2, "app", b"web")
        .str(3, "")
        .str(4, "ClusterIP")
        .str(7, "");
    let raw = Enc::default()
        .msg(1, name("web").entry(11, "app", b"web"))
        .msg(2, spec)
        .msg(3, Enc::default().msg(1, Enc::default()));
    let v = decode(&envelope("v1", "Service", raw)).unwrap();
    assert_eq!(
        v,
        json!({
            "kind": "Service", "apiVersion": "v1",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "web", "protocol": "TCP", "port": 443, "targetPort": "https"}
                ],
                "selector": {"app": "web"},
                "type": "ClusterIP"
            },
            "status": {"loadBalancer": {}}
        })
    );
}

#[test]
fn decodes_deployment_with_template_resources_env_and_probes() {
    let http_probe = Enc::default()
        .msg(1, Enc::default().msg(2, Enc::default().str(1, "/healthz").msg(2, ios_str("http")).str(4, "HTTP")))
        .int(2, 0)
        .int(4, 10)
        .int(6, 3);
    let tcp_probe = Enc::default().msg(1, Enc::default().msg(3, Enc::default().msg(1, ios_int(80))));
    let container = Enc::default()
        .str(1, "nginx")
        .str(2, "nginx:1.27")
        .msg(6, Enc::default().str(1, "http").int(2, 0).int(3, 80).str(4, "TCP"))
        .msg(7, Enc::default().str(1, "A").str(2, "1"))
        .msg(7, Enc::default().str(1, "EMPTY").str(2, ""))
        .msg(8, Enc::default().entry(1, "cpu", &quantity("500m")).entry(1, "memory", &quantity("128Mi")).entry(2, "cpu", &quantity("250m")))
        .msg(10, http_probe)
        .msg(11, tcp_probe)
        .str(13, "/dev/termination-log")
        .str(14, "IfNotPresent")
        .key(16, 0)
        .varint(0);
    let pod_spec = Enc::default().msg(2, container).str(3, "Always").int(4, 30).str(6, "ClusterFirst");
    let spec = Enc::default()
        .int(1, 2)
        .msg(2, Enc::default().entry(1, "app", b"web"))
        .msg(3, Enc::default().msg(1, Enc::default().entry(11, "app", b"web")).msg(2, pod_spec))
        .msg(4, Enc::default().str(1, "RollingUpdate").msg(2, Enc::default().msg(1, ios_str("25%")).msg(2, ios_str("25%"))))
        .int(5, 0)
        .int(6, 10)
        .key(7, 0)
        .varint(0)
        .int(9, 600);
    let raw = Enc::default().msg(1, name("web")).msg(2, spec).msg(3, Enc::default());
    let v = decode(&envelope("apps/v1", "Deployment", raw)).unwrap();
    assert_eq!(
        v,
        json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "nginx",
                            "image": "nginx:1.27",
                            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "EMPTY"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                                "periodSeconds": 10,
                                "failureThreshold": 3
                            },
                            "readinessProbe": {"tcpSocket": {"port": 80}},
                            "terminationMessagePath": "/dev/termination-log",
                            "imagePullPolicy": "IfNotPresent"
                        }],
                        "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 30,
                        "dnsPolicy": "ClusterFirst"
                    }
                },
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600
            },
            "status": {}
        })
    );
}

#[test]
fn decodes_job_cluster_role_pdb_and_eviction() {
    let pod = Enc::default().msg(2, name("j").str(2, "busybox:1.37")).str(3, "Never");
    let job = Enc::default().msg(1, name("j")).msg(2, Enc::default().int(7, 0).msg(6, Enc::default().msg(1, Enc::default()).msg(2, pod)));
    let v = decode(&envelope("batch/v1", "Job", job)).unwrap();
    assert_eq!(
        v["spec"],
        json!({
            "backoffLimit": 0,
            "template": {"metadata": {}, "spec": {"containers": [{"name": "j", "image": "busybox:1.37", "resources": {}}], "restartPolicy": "Never"}}
        })
    );
    assert_eq!(v["status"], json!({}));

    let rule = Enc::default().str(1, "list").str(2, "").str(3, "nodes");
    let cr = Enc::default().msg(1, name("cr")).msg(2, rule);
    let v = decode(&envelope("rbac.authorization.k8s.io/v1", "ClusterRole", cr)).unwrap();
    assert_eq!(
        v,
        json!({"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "cr"},
               "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["nodes"]}]})
    );
    // `rules` has no omitempty: Go renders a nil slice as null.
    let v = decode(&envelope("rbac.authorization.k8s.io/v1", "ClusterRole", Enc::default().msg(1, name("e")))).unwrap();
    assert_eq!(v["rules"], Value::Null);

    let pdb = Enc::default()
        .msg(1, name("p"))
        .msg(2, Enc::default().msg(1, ios_int(1)).msg(2, Enc::default().entry(1, "app", b"web")))
        .msg(3, Enc::default().int(1, 0).int(3, 0).int(4, 0).int(5, 0).int(6, 0));
    let v = decode(&envelope("policy/v1", "PodDisruptionBudget", pdb)).unwrap();
    assert_eq!(
        v,
        json!({
            "kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
            "metadata": {"name": "p"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
        })
    );
    let pct = Enc::default().msg(2, Enc::default().msg(3, ios_str("50%")));
    assert_eq!(decode(&envelope("policy/v1", "PodDisruptionBudget", pct)).unwrap()["spec"], json!({"maxUnavailable": "50%"}));

    let ev = Enc::default().msg(1, name("web-0").str(3, "default")).msg(2, Enc::default().int(1, 0).str(4, "Foreground"));
    let v = decode(&envelope("policy/v1", "Eviction", ev)).unwrap();
    assert_eq!(
        v,
        json!({"kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": "web-0", "namespace": "default"},
               "deleteOptions": {"gracePeriodSeconds": 0, "propagationPolicy": "Foreground"}})
    );
}

#[test]
fn decodes_token_request_scale_and_crd_schema() {
    let tr = Enc::default().msg(2, Enc::default().str(1, "https://kubernetes.default.svc").int(4, 3600));
    let v = decode(&envelope("authentication.k8s.io/v1", "TokenRequest", tr)).unwrap();
    assert_eq!(v["spec"], json!({"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600}));

    let scale = Enc::default().msg(1, name("web")).msg(2, Enc::default().int(1, 0));
    let v = decode(&envelope("autoscaling/v1", "Scale", scale)).unwrap();
    assert_eq!(v["spec"], json!({}), "replicas is int32 omitempty in autoscaling/v1 ScaleSpec");

    // properties.spec: {type: object, x-kubernetes-preserve-unknown-fields: false,
    // properties: {size: {type: integer, minimum: 1, default: 3}}, additionalProperties: true},
    // items as a schema, enum values as raw JSON.
    let size = Enc::default().str(5, "integer").double(11, 1.0).msg(8, Enc::default().bytes(1, b"3"));
    let spec = Enc::default()
        .str(5, "object")
        .msg(29, Enc::default().str(1, "size").msg(2, size))
        .msg(30, Enc::default().key(1, 0).varint(1))
        .key(38, 0)
        .varint(0);
    let tags = Enc::default().str(5, "array").msg(24, Enc::default().msg(1, Enc::default().str(5, "string").msg(20, Enc::default().bytes(1, b"\"a\""))));
    let schema = Enc::default().str(5, "object").msg(29, Enc::default().str(1, "spec").msg(2, spec)).msg(29, Enc::default().str(1, "tags").msg(2, tags));
    let version = Enc::default().str(1, "v1").key(2, 0).varint(1).key(3, 0).varint(1).msg(4, Enc::default().msg(1, schema));
    let names = Enc::default().str(1, "widgets").str(2, "widget").str(4, "Widget");
    let crd = Enc::default()
        .msg(1, name("widgets.example.com"))
        .msg(2, Enc::default().str(1, "example.com").msg(3, names).str(4, "Namespaced").msg(7, version));
    let v = decode(&envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd)).unwrap();
    assert_eq!(v["spec"]["names"], json!({"plural": "widgets", "singular": "widget", "kind": "Widget"}));
    let ver = &v["spec"]["versions"][0];
    assert_eq!((ver["name"].clone(), ver["served"].clone(), ver["storage"].clone()), (json!("v1"), json!(true), json!(true)));
    assert_eq!(
        ver["schema"]["openAPIV3Schema"],
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {"size": {"type": "integer", "minimum": 1, "default": 3}},
                    "additionalProperties": true,
                    "x-kubernetes-preserve-unknown-fields": false
                },
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a"]}}
            }
        })
    );
}

#[test]
fn every_served_kind_decodes_an_empty_message() {
    for (av, kind) in generated::KINDS {
        let v = decode(&envelope(av, kind, Enc::default())).unwrap_or_else(|e| panic!("{av} {kind}: {e}"));
        assert_eq!(v["kind"], json!(kind));
        assert!(supports(av, kind));
    }
    for kind in ["Service", "Pod", "Node", "PersistentVolumeClaim", "ResourceQuota", "Endpoints", "LimitRange"] {
        assert!(supports("v1", kind), "{kind}");
    }
    for (av, kind) in [
        ("apps/v1", "StatefulSet"),
        ("batch/v1", "CronJob"),
        ("networking.k8s.io/v1", "Ingress"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("apiregistration.k8s.io/v1", "APIService"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("resource.k8s.io/v1", "ResourceClaim"),
    ] {
        assert!(supports(av, kind), "{av} {kind}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // JSONSchemaProps.not (28) nested far beyond MAX_DEPTH.
    let mut m = Enc::default();
    for _ in 0..10_000 {
        m = Enc::default().msg(28, m);
    }
    let schema = Enc::default().msg(1, m);
    let crd = Enc::default().msg(2, Enc::default().msg(7, Enc::default().msg(4, schema)));
    assert_eq!(decode(&envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd)).unwrap_err(), ProtobufError::TooDeep);
}

#[test]
fn never_panics_on_garbage_for_any_kind() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for (av, kind) in generated::KINDS {
        for _ in 0..300 {
            let n = (next() % 96) as usize;
            let e = Enc((0..n).map(|_| next() as u8).collect());
            let _ = decode(&envelope(av, kind, e));
        }
    }
}
