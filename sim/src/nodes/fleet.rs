//! Every node's kubelet behind one controller loop. A real kubelet watches only its own
//! pods (a `spec.nodeName` field selector served from the API server's index); here one loop
//! routes each pod event to its node's kubelet, so a pod event costs one kubelet, not one
//! per node, and a pass reconciles only the kubelets something happened to or fell due for.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::kubelet::Kubelet;
use crate::controllers::clock::Clock;
use crate::controllers::Controller;
use crate::server::ApiServer;
use crate::store::StoreEvent;

pub struct KubeletFleet {
    kubelets: BTreeMap<String, Kubelet>,
    clock: Clock,
    dirty: Mutex<BTreeSet<String>>,
    /// Reconcile every kubelet on the next pass (at start, and after missed events).
    all: AtomicBool,
}

impl KubeletFleet {
    pub fn new(kubelets: impl IntoIterator<Item = Kubelet>, clock: Clock) -> KubeletFleet {
        let kubelets = kubelets.into_iter().map(|k| (k.node().to_string(), k)).collect();
        KubeletFleet { kubelets, clock, dirty: Default::default(), all: AtomicBool::new(true) }
    }
}

impl Controller for KubeletFleet {
    fn name(&self) -> &'static str {
        "kubelet"
    }

    fn observe(&self, server: &ApiServer, ev: &StoreEvent) -> bool {
        if &*ev.key == "pods" {
            // Only the kubelet of the node the pod is (or was) bound to hears of it.
            let nodes = [Some(&*ev.object), ev.prev.as_deref()].into_iter().flatten().filter_map(Kubelet::node_of);
            let mut hit = false;
            for node in nodes {
                if let Some(k) = self.kubelets.get(node)
                    && k.observe(server, ev) {
                        self.dirty.lock().insert(node.to_string());
                        hit = true;
                    }
            }
            return hit;
        }
        if !matches!(&*ev.key, "persistentvolumeclaims" | "configmaps" | "secrets") {
            return false;
        }
        // Claims, ConfigMaps and Secrets: rare next to pods; every kubelet decides.
        let woken: Vec<&String> = self.kubelets.iter().filter(|(_, k)| k.observe(server, ev)).map(|(n, _)| n).collect();
        if woken.is_empty() {
            return false;
        }
        self.dirty.lock().extend(woken.into_iter().cloned());
        true
    }

    fn lagged(&self) {
        self.kubelets.values().for_each(Kubelet::lagged);
        self.all.store(true, Ordering::Relaxed);
    }

    fn next_wake(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        // Kubelets left for the next pass: due now.
        if self.all.load(Ordering::Relaxed) || !self.dirty.lock().is_empty() {
            return Some(self.clock.now());
        }
        self.kubelets.values().filter_map(Kubelet::next_wake).min()
    }

    /// At most `PASS` kubelets a pass; the rest stay queued and the loop comes back at once.
    /// Real kubelets work side by side: a thousand of them starting pods in one long pass
    /// would hold back the scheduler and controllers whose work feeds them.
    fn reconcile(&self, server: &ApiServer) {
        let now = self.clock.now();
        let batch: Vec<&String> = {
            let mut dirty = self.dirty.lock();
            if self.all.swap(false, Ordering::Relaxed) {
                dirty.extend(self.kubelets.keys().cloned());
            }
            dirty.extend(self.kubelets.iter().filter(|(_, k)| k.next_wake().is_some_and(|at| at <= now)).map(|(n, _)| n.clone()));
            std::iter::from_fn(|| dirty.pop_first()).take(PASS).filter_map(|n| self.kubelets.get_key_value(&n).map(|(n, _)| n)).collect()
        };
        for node in batch {
            self.kubelets[node].reconcile(server);
        }
    }
}

/// Kubelets reconciled per pass of the fleet's loop.
const PASS: usize = 32;
