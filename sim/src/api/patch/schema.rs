//! Merge metadata for built-in types: the `patchStrategy`/`patchMergeKey` struct tags (used by
//! strategic merge patch) and the `+listType`/`+listMapKey`/`+mapType` markers (used by
//! server-side apply) of k8s.io/api, keyed by field name plus enough parent context to tell
//! apart the few names that mean different things (`ports`, `finalizers`).
//!
//! Custom resources have no such tags: SMP is refused for them and SSA treats their lists as
//! atomic (a CRD schema without `x-kubernetes-list-type` is atomic), except for `metadata`,
//! which is always the typed `ObjectMeta`.

/// How a list merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMeta {
    /// No merge strategy: a patch / applied value replaces the whole list.
    Atomic,
    /// `patchStrategy:"merge"` on a list of scalars / `+listType=set`.
    Set,
    /// `patchStrategy:"merge" patchMergeKey:<smp_key>` / `+listType=map +listMapKey=<keys>`.
    Map { smp_key: &'static str, keys: &'static [&'static str] },
}

/// API groups served by kube-apiserver (and the aggregator) from compiled-in Go types.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

pub fn is_builtin_group(group: &str) -> bool {
    BUILTIN_GROUPS.contains(&group)
}

/// The group part of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    match api_version.rsplit_once('/') {
        Some((g, _)) => g,
        None => "",
    }
}

/// Type context for schema lookups.
#[derive(Clone, Copy, Debug)]
pub struct TypeCtx<'a> {
    pub kind: &'a str,
    pub builtin: bool,
}

impl<'a> TypeCtx<'a> {
    pub fn new(api_version: &str, kind: &'a str) -> Self {
        TypeCtx { kind, builtin: is_builtin_group(group_of(api_version)) }
    }
}

const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// Merge metadata of the list at `path` (field names from the object root; list items are
/// not represented, so `spec.template.spec.containers[*].ports` is
/// `["spec","template","spec","containers","ports"]`).
pub fn list_meta(ctx: TypeCtx, path: &[String]) -> ListMeta {
    use ListMeta::*;
    let n = path.len();
    let Some(field) = path.last().map(String::as_str) else { return Atomic };
    let parent = if n >= 2 { path[n - 2].as_str() } else { "" };
    // ObjectMeta is typed for every kind, custom resources included.
    if parent == "metadata" {
        return match field {
            "finalizers" => Set,
            "ownerReferences" => Map { smp_key: "uid", keys: &["uid"] },
            _ => Atomic,
        };
    }
    if !ctx.builtin {
        return Atomic;
    }
    match field {
        "containers" | "initContainers" | "ephemeralContainers" => Map { smp_key: "name", keys: &["name"] },
        "env" if CONTAINER_LISTS.contains(&parent) => Map { smp_key: "name", keys: &["name"] },
        "ports" if CONTAINER_LISTS.contains(&parent) => {
            Map { smp_key: "containerPort", keys: &["containerPort", "protocol"] }
        }
        "ports" if ctx.kind == "Service" && n == 2 && parent == "spec" => {
            Map { smp_key: "port", keys: &["port", "protocol"] }
        }
        "volumeMounts" => Map { smp_key: "mountPath", keys: &["mountPath"] },
        "volumeDevices" => Map { smp_key: "devicePath", keys: &["devicePath"] },
        "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims" => {
            Map { smp_key: "name", keys: &["name"] }
        }
        "hostAliases" => Map { smp_key: "ip", keys: &["ip"] },
        "podIPs" | "hostIPs" if parent == "status" => Map { smp_key: "ip", keys: &["ip"] },
        "topologySpreadConstraints" => {
            Map { smp_key: "topologyKey", keys: &["topologyKey", "whenUnsatisfiable"] }
        }
        "conditions" => Map { smp_key: "type", keys: &["type"] },
        "addresses" if ctx.kind == "Node" && parent == "status" => Map { smp_key: "type", keys: &["type"] },
        "podCIDRs" if ctx.kind == "Node" => Set,
        "secrets" if ctx.kind == "ServiceAccount" => Map { smp_key: "name", keys: &["name"] },
        "webhooks" if ctx.kind.ends_with("WebhookConfiguration") => Map { smp_key: "name", keys: &["name"] },
        // tolerations, args, command, envFrom, rules, subjects, containerStatuses, ... carry no
        // patch strategy in k8s.io/api: atomic.
        _ => Atomic,
    }
}

/// Whether the map/struct at `path` is atomic for server-side apply (`+mapType=atomic` /
/// `+structType=atomic`): owned and replaced as a unit.
pub fn map_atomic(ctx: TypeCtx, path: &[String]) -> bool {
    if !ctx.builtin || path.first().map(String::as_str) == Some("metadata") && path.len() == 2 {
        return false;
    }
    let n = path.len();
    let parent = if n >= 2 { path[n - 2].as_str() } else { "" };
    match path.last().map(String::as_str) {
        // LabelSelector, Service/Pod selectors, RoleRef and the *KeySelector refs are atomic.
        Some(
            "selector" | "nodeSelector" | "podSelector" | "namespaceSelector" | "labelSelector" | "roleRef"
            | "secretKeyRef" | "configMapKeyRef" | "fieldRef" | "resourceFieldRef",
        ) => true,
        // core/v1 NodeSelector is `+structType=atomic`.
        Some("requiredDuringSchedulingIgnoredDuringExecution") => parent == "nodeAffinity",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }
    #[test]
    fn ports_depend_on_parent() {
        let pod = TypeCtx::new("v1", "Pod");
        assert_eq!(
            list_meta(pod, &p("spec.containers.ports")),
            ListMeta::Map { smp_key: "containerPort", keys: &["containerPort", "protocol"] }
        );
        let svc = TypeCtx::new("v1", "Service");
        assert_eq!(list_meta(svc, &p("spec.ports")), ListMeta::Map { smp_key: "port", keys: &["port", "protocol"] });
        let np = TypeCtx::new("networking.k8s.io/v1", "NetworkPolicy");
        assert_eq!(list_meta(np, &p("spec.ingress.ports")), ListMeta::Atomic);
    }
    #[test]
    fn tolerations_atomic_finalizers_set_crs_atomic() {
        let d = TypeCtx::new("apps/v1", "Deployment");
        assert_eq!(list_meta(d, &p("spec.template.spec.tolerations")), ListMeta::Atomic);
        assert_eq!(list_meta(d, &p("metadata.finalizers")), ListMeta::Set);
        let cr = TypeCtx::new("example.com/v1", "Widget");
        assert!(!cr.builtin);
        assert_eq!(list_meta(cr, &p("spec.containers")), ListMeta::Atomic);
        assert_eq!(list_meta(cr, &p("metadata.ownerReferences")), ListMeta::Map { smp_key: "uid", keys: &["uid"] });
        assert!(map_atomic(d, &p("spec.selector")));
        assert!(!map_atomic(d, &p("metadata.labels")));
        assert!(!map_atomic(cr, &p("spec.selector")));
    }
}
