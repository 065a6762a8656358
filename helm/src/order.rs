//! Helm's kind orderings (helm/helm `pkg/release/v1/util/kind_sorter.go`).

/// Kinds in the order Helm creates them; unknown kinds go after these, alphabetically by kind.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Kinds in the order Helm deletes them (validating webhooks first so they cannot block removal).
pub const UNINSTALL_ORDER: &[&str] = &[
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "Ingress",
    "IngressClass",
    "Service",
    "CronJob",
    "Job",
    "StatefulSet",
    "HorizontalPodAutoscaler",
    "Deployment",
    "ReplicaSet",
    "ReplicationController",
    "Pod",
    "DaemonSet",
    "RoleBindingList",
    "RoleBinding",
    "RoleList",
    "Role",
    "ClusterRoleBindingList",
    "ClusterRoleBinding",
    "ClusterRoleList",
    "ClusterRole",
    "CustomResourceDefinition",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "StorageClass",
    "ConfigMap",
    "SecretList",
    "Secret",
    "ServiceAccount",
    "PodDisruptionBudget",
    "PodSecurityPolicy",
    "LimitRange",
    "ResourceQuota",
    "NetworkPolicy",
    "Namespace",
    "PriorityClass",
];

/// Helm's `lessByKind` as a sort key: known kinds by position, unknown kinds after all known
/// ones and alphabetically among themselves. Equal keys keep their original order (stable sort).
fn key<'a>(kind: &'a str, order: &[&str]) -> (usize, &'a str) {
    match order.iter().position(|k| *k == kind) {
        Some(i) => (i, ""),
        None => (order.len(), kind),
    }
}

/// Stable sort of `items` by kind, like Helm's `sortManifestsByKind`.
pub fn sort_by_kind<T>(items: &mut [T], order: &[&str], kind: impl Fn(&T) -> &str) {
    items.sort_by(|a, b| key(kind(a), order).cmp(&key(kind(b), order)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_last_alphabetically_and_stable() {
        let mut v = vec![
            ("ServiceMonitor", "a"),
            ("Deployment", "d1"),
            ("Prometheus", "p"),
            ("ServiceAccount", "sa"),
            ("Alertmanager", "am"),
            ("Deployment", "d0"),
            ("ValidatingWebhookConfiguration", "v"),
            ("MutatingWebhookConfiguration", "m"),
        ];
        sort_by_kind(&mut v, INSTALL_ORDER, |x| x.0);
        let names: Vec<_> = v.iter().map(|x| x.1).collect();
        assert_eq!(names, ["sa", "d1", "d0", "m", "v", "am", "p", "a"]);
        sort_by_kind(&mut v, UNINSTALL_ORDER, |x| x.0);
        let names: Vec<_> = v.iter().map(|x| x.1).collect();
        assert_eq!(names, ["v", "m", "d1", "d0", "sa", "am", "p", "a"]);
    }
}
