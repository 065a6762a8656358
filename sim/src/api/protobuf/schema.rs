//! Field tables for the messages `decode` understands (numbers from generated.proto).
//! `keep_zero` marks Go pointer fields, which survive JSON `omitempty` even when zero.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum K {
    Str,
    I64,
    I32,
    Bool,
    Msg(&'static [F]),
    RepMsg(&'static [F]),
    RepStr,
    /// metav1.Time, RFC3339 with seconds.
    Time,
    /// metav1.MicroTime, RFC3339 with microseconds.
    MicroTime,
    /// map<string,string> as repeated {1 key, 2 value}.
    MapStr,
    /// map<string,bytes>, values rendered as base64 like Go's []byte JSON.
    MapBytes,
    /// metav1.FieldsV1 {1 raw JSON bytes}.
    FieldsV1,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct F {
    pub num: u32,
    pub name: &'static str,
    pub kind: K,
    pub keep_zero: bool,
}

const fn f(num: u32, name: &'static str, kind: K) -> F {
    F { num, name, kind, keep_zero: false }
}
/// A pointer field in Go: emitted whenever present on the wire.
const fn p(num: u32, name: &'static str, kind: K) -> F {
    F { num, name, kind, keep_zero: true }
}

pub const TYPE_META: &[F] = &[f(1, "apiVersion", K::Str), f(2, "kind", K::Str)];

const OWNER_REFERENCE: &[F] = &[
    p(5, "apiVersion", K::Str),
    p(1, "kind", K::Str),
    p(3, "name", K::Str),
    p(4, "uid", K::Str),
    p(6, "controller", K::Bool),
    p(7, "blockOwnerDeletion", K::Bool),
];

const MANAGED_FIELDS_ENTRY: &[F] = &[
    f(1, "manager", K::Str),
    f(2, "operation", K::Str),
    f(3, "apiVersion", K::Str),
    f(4, "time", K::Time),
    f(6, "fieldsType", K::Str),
    f(7, "fieldsV1", K::FieldsV1),
    f(8, "subresource", K::Str),
];

pub const OBJECT_META: &[F] = &[
    f(1, "name", K::Str),
    f(2, "generateName", K::Str),
    f(3, "namespace", K::Str),
    f(4, "selfLink", K::Str),
    f(5, "uid", K::Str),
    f(6, "resourceVersion", K::Str),
    f(7, "generation", K::I64),
    f(8, "creationTimestamp", K::Time),
    f(9, "deletionTimestamp", K::Time),
    p(10, "deletionGracePeriodSeconds", K::I64),
    f(11, "labels", K::MapStr),
    f(12, "annotations", K::MapStr),
    f(13, "ownerReferences", K::RepMsg(OWNER_REFERENCE)),
    f(14, "finalizers", K::RepStr),
    f(17, "managedFields", K::RepMsg(MANAGED_FIELDS_ENTRY)),
];

const OBJECT_REFERENCE: &[F] = &[
    f(1, "kind", K::Str),
    f(2, "namespace", K::Str),
    f(3, "name", K::Str),
    f(4, "uid", K::Str),
    f(5, "apiVersion", K::Str),
    f(6, "resourceVersion", K::Str),
    f(7, "fieldPath", K::Str),
];

const LOCAL_OBJECT_REFERENCE: &[F] = &[p(1, "name", K::Str)];

const SECRET: &[F] = &[
    f(1, "metadata", K::Msg(OBJECT_META)),
    f(2, "data", K::MapBytes),
    f(3, "type", K::Str),
    f(4, "stringData", K::MapStr),
    p(5, "immutable", K::Bool),
];

const CONFIG_MAP: &[F] = &[
    f(1, "metadata", K::Msg(OBJECT_META)),
    f(2, "data", K::MapStr),
    f(3, "binaryData", K::MapBytes),
    p(4, "immutable", K::Bool),
];

const NAMESPACE_CONDITION: &[F] = &[
    f(1, "type", K::Str),
    f(2, "status", K::Str),
    f(4, "lastTransitionTime", K::Time),
    f(5, "reason", K::Str),
    f(6, "message", K::Str),
];
const NAMESPACE: &[F] = &[
    f(1, "metadata", K::Msg(OBJECT_META)),
    f(2, "spec", K::Msg(&[f(1, "finalizers", K::RepStr)])),
    f(3, "status", K::Msg(&[f(1, "phase", K::Str), f(2, "conditions", K::RepMsg(NAMESPACE_CONDITION))])),
];

const SERVICE_ACCOUNT: &[F] = &[
    f(1, "metadata", K::Msg(OBJECT_META)),
    f(2, "secrets", K::RepMsg(OBJECT_REFERENCE)),
    f(3, "imagePullSecrets", K::RepMsg(LOCAL_OBJECT_REFERENCE)),
    p(4, "automountServiceAccountToken", K::Bool),
];

const EVENT: &[F] = &[
    f(1, "metadata", K::Msg(OBJECT_META)),
    f(2, "involvedObject", K::Msg(OBJECT_REFERENCE)),
    f(3, "reason", K::Str),
    f(4, "message", K::Str),
    f(5, "source", K::Msg(&[f(1, "component", K::Str), f(2, "host", K::Str)])),
    f(6, "firstTimestamp", K::Time),
    f(7, "lastTimestamp", K::Time),
    f(8, "count", K::I32),
    f(9, "type", K::Str),
    f(10, "eventTime", K::MicroTime),
    f(11, "series", K::Msg(&[f(1, "count", K::I32), f(2, "lastObservedTime", K::MicroTime)])),
    f(12, "action", K::Str),
    f(13, "related", K::Msg(OBJECT_REFERENCE)),
    f(14, "reportingComponent", K::Str),
    f(15, "reportingInstance", K::Str),
];

const LEASE: &[F] = &[
    f(1, "metadata", K::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        K::Msg(&[
            p(1, "holderIdentity", K::Str),
            p(2, "leaseDurationSeconds", K::I32),
            f(3, "acquireTime", K::MicroTime),
            f(4, "renewTime", K::MicroTime),
            p(5, "leaseTransitions", K::I32),
            p(6, "strategy", K::Str),
            p(7, "preferredHolder", K::Str),
        ]),
    ),
];

const DELETE_OPTIONS: &[F] = &[
    p(1, "gracePeriodSeconds", K::I64),
    f(2, "preconditions", K::Msg(&[p(1, "uid", K::Str), p(2, "resourceVersion", K::Str)])),
    p(3, "orphanDependents", K::Bool),
    p(4, "propagationPolicy", K::Str),
    f(5, "dryRun", K::RepStr),
    p(6, "ignoreStoreReadErrorWithClusterBreakingPotential", K::Bool),
];

const LIST_OPTIONS: &[F] = &[
    f(1, "labelSelector", K::Str),
    f(2, "fieldSelector", K::Str),
    f(3, "watch", K::Bool),
    f(4, "resourceVersion", K::Str),
    p(5, "timeoutSeconds", K::I64),
    f(7, "limit", K::I64),
    f(8, "continue", K::Str),
    f(9, "allowWatchBookmarks", K::Bool),
    f(10, "resourceVersionMatch", K::Str),
    p(11, "sendInitialEvents", K::Bool),
];

/// The message table for an envelope's `apiVersion`/`kind`.
pub fn for_kind(api_version: &str, kind: &str) -> Option<&'static [F]> {
    Some(match (api_version, kind) {
        ("v1", "Secret") => SECRET,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("v1", "Event") => EVENT,
        ("coordination.k8s.io/v1", "Lease") => LEASE,
        // metav1 option types are registered into every group version.
        (_, "DeleteOptions") => DELETE_OPTIONS,
        (_, "ListOptions") => LIST_OPTIONS,
        _ => return None,
    })
}
