use super::*;
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
    let e = decode(&envelope("apps/v1", "Deployment", Enc::default())).unwrap_err();
    assert!(e.is_unsupported());
    assert_eq!(e, ProtobufError::UnsupportedKind { api_version: "apps/v1".into(), kind: "Deployment".into() });
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
