//! Node-level sabotage: plant what a kubelet that died mid-teardown leaves, so scenarios can prove
//! `node.assert-clean` names it and `node.cleanup` removes it. Planted node state is not an API object:
//! the runner's teardown does not see it, so put `node.cleanup` in `finally`.

use std::hash::{BuildHasher, Hasher};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{check_node, with_fs_ops};
use crate::primitives::{Primitive, StepContext, StepError, StepOutcome};

/// A random v4-shaped uid (no uuid dependency: RandomState is seeded per instance).
fn random_uid() -> String {
    let r = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.finish()
    };
    let (a, b) = (r(1), r(2));
    let x = format!("{a:016x}{b:016x}");
    format!("{}-{}-4{}-a{}-{}", &x[0..8], &x[8..12], &x[13..16], &x[17..20], &x[20..32])
}

async fn uid_exists(ctx: &StepContext, uid: &str) -> Result<bool, StepError> {
    let pods = Api::<Pod>::all(ctx.client.clone()).list_metadata(&ListParams::default()).await.map_err(StepError::kube("list pods"))?;
    Ok(pods.items.iter().any(|p| p.metadata.uid.as_deref() == Some(uid)))
}

/// Plant a zombie mount: an emptyDir tmpfs mount and its volume directory under
/// `/var/lib/kubelet/pods/<podUid>`, for a pod uid that does not exist.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "SabotageZombieMount")]
pub struct ZombieMount {
    pub node: String,
    /// Uid of the (non-existent) pod (default: a random one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    /// Volume name (default `data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
}

impl Primitive for ZombieMount {
    fn describe(&self) -> String {
        format!("planting a zombie mount on {}", self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_fs_ops!(ctx, "sabotage.zombie-mount");
            check_node(&*ops, &self.node)?;
            let uid = self.pod_uid.clone().unwrap_or_else(random_uid);
            let volume = self.volume.as_deref().unwrap_or("data");
            if uid_exists(ctx, &uid).await? {
                return Err(StepError::Failed(format!("pod uid {uid} exists; a zombie mount needs the uid of a pod that is gone")));
            }
            ops.plant_mount(&self.node, &uid, volume).await.map_err(|e| StepError::Failed(format!("plant mount on {}: {e}", self.node)))?;
            let target = format!("{}/{uid}/volumes/kubernetes.io~empty-dir/{volume}", super::KUBELET_PODS);
            ctx.finding(format!("planted zombie mount {}:{target}", self.node));
            Ok(StepOutcome::done(format!("planted zombie mount {target} on {} (pod uid {uid}, no such pod)", self.node)))
        })
    }
}

/// Plant the logs of a pod that is gone: `/var/log/pods/<ns>_<pod>_<uid>/main/0.log` and its
/// `/var/log/containers` link, under a fresh uid.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SabotageOrphanPodLogs")]
pub struct OrphanPodLogs {
    pub node: String,
    pub namespace: String,
    pub pod: String,
}

impl Primitive for OrphanPodLogs {
    fn describe(&self) -> String {
        format!("planting orphan logs of pod {}/{} on {}", self.namespace, self.pod, self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_fs_ops!(ctx, "sabotage.orphan-pod-logs");
            check_node(&*ops, &self.node)?;
            let uid = random_uid();
            ops.plant_pod_log(&self.node, &self.namespace, &self.pod, &uid, "main")
                .await
                .map_err(|e| StepError::Failed(format!("plant pod logs on {}: {e}", self.node)))?;
            let dir = format!("{}/{}_{}_{uid}", super::POD_LOGS, self.namespace, self.pod);
            ctx.finding(format!("planted orphan pod logs {}:{dir}", self.node));
            Ok(StepOutcome::done(format!("planted {dir} (and its /var/log/containers link) on {}", self.node)))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_uids_look_like_uids() {
        let (a, b) = (super::random_uid(), super::random_uid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
    }
}
