//! The `Controller` trait and its event loop, and kube-controller-manager's and
//! kube-scheduler's loops. Each reacts to store events (never timers) and writes through
//! `ApiServer`, so admission and validation apply to what they create. `crate::cluster`
//! decides which run.

pub mod crd_finalizer;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod gc;
pub mod job;
pub mod namespace;
pub mod placement;
pub mod replicaset;
pub mod scheduler;
pub mod serviceaccount;
pub mod statefulset;
pub mod util;

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::server::ApiServer;
use crate::store::StoreEvent;

/// A reconciler driven by store events. `interested` filters cheaply; `reconcile` runs
/// after a burst of events has been drained (so N deletes cost one pass, not N).
pub trait Controller: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Called for every event; return true to schedule a reconcile pass.
    fn observe(&self, server: &ApiServer, ev: &StoreEvent) -> bool;
    /// Do the work; called once at start and after every burst of interesting events.
    fn reconcile(&self, server: &ApiServer);
}

/// Run one controller until shutdown.
pub fn spawn(server: Arc<ApiServer>, ctl: Arc<dyn Controller>, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rx = server.store.subscribe();
        let name = ctl.name();
        crate::server::storm::with_actor(name, || ctl.reconcile(&server));
        loop {
            let first = tokio::select! {
                _ = shutdown.changed() => return,
                ev = rx.recv() => ev,
            };
            let mut dirty = match first {
                Ok(ev) => ctl.observe(&server, &ev),
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return,
            };
            // Drain the burst without waiting.
            loop {
                match rx.try_recv() {
                    Ok(ev) => dirty |= ctl.observe(&server, &ev),
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => dirty = true,
                    Err(_) => break,
                }
            }
            if dirty {
                // Attributed to this controller by the write-storm guard.
                crate::server::storm::with_actor(name, || ctl.reconcile(&server));
                // Give writers a turn so bursts coalesce.
                tokio::task::yield_now().await;
            }
        }
    })
}
