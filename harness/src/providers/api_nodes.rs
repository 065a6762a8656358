//! Node operations for providers whose nodes cleanroom reaches through the Kubernetes API only.

use std::time::Duration;

use futures::future::BoxFuture;

use super::drain;
use super::nodes::{DrainOutcome, NodeMount, NodeOperations, NodeResult, RestartReport};

/// Nodes reached only through the API (kwok's simulated ones, k3s's in its container): cordon, uncordon
/// and drain; every node-filesystem operation fails with `no_filesystem`, the provider's reason.
pub struct ApiNodes {
    pub client: kube::Client,
    pub names: Vec<String>,
    pub no_filesystem: &'static str,
}

impl ApiNodes {
    fn no_fs<T>(&self) -> NodeResult<T> {
        Err(self.no_filesystem.to_string())
    }
}

impl NodeOperations for ApiNodes {
    fn nodes(&self) -> Vec<String> {
        self.names.clone()
    }
    fn filesystem_unavailable(&self) -> Option<String> {
        Some(self.no_filesystem.to_string())
    }
    fn cordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(drain::set_unschedulable(&self.client, node, true))
    }
    fn uncordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(drain::set_unschedulable(&self.client, node, false))
    }
    fn drain<'a>(&'a self, node: &'a str, ignore_daemonsets: bool, timeout: Duration) -> BoxFuture<'a, NodeResult<DrainOutcome>> {
        Box::pin(drain::drain(&self.client, node, ignore_daemonsets, timeout))
    }
    fn restart_kubelet<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, NodeResult<RestartReport>> {
        Box::pin(async { self.no_fs() })
    }
    fn restart_runtime<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, NodeResult<RestartReport>> {
        Box::pin(async { self.no_fs() })
    }
    fn mounts<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, NodeResult<Vec<NodeMount>>> {
        Box::pin(async { self.no_fs() })
    }
    fn pod_log_dirs<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async { self.no_fs() })
    }
    fn images<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async { self.no_fs() })
    }
    fn prune_images<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async { self.no_fs() })
    }
    fn remove_path<'a>(&'a self, _node: &'a str, _path: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async { self.no_fs() })
    }
    fn path_exists<'a>(&'a self, _node: &'a str, _path: &'a str) -> BoxFuture<'a, NodeResult<bool>> {
        Box::pin(async { self.no_fs() })
    }
    fn list_dir<'a>(&'a self, _node: &'a str, _dir: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async { self.no_fs() })
    }
    fn read_link<'a>(&'a self, _node: &'a str, _path: &'a str) -> BoxFuture<'a, NodeResult<Option<String>>> {
        Box::pin(async { self.no_fs() })
    }
    fn unmount<'a>(&'a self, _node: &'a str, _target: &'a str) -> BoxFuture<'a, NodeResult<bool>> {
        Box::pin(async { self.no_fs() })
    }
    fn plant_mount<'a>(&'a self, _node: &'a str, _pod_uid: &'a str, _volume: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async { self.no_fs() })
    }
    fn plant_pod_log<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str, _: &'a str, _: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async { self.no_fs() })
    }
}
