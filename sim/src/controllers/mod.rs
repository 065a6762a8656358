//! The `Controller` trait and its event loop, and kube-controller-manager's and
//! kube-scheduler's loops. Each reacts to store events (and to deadlines on the cluster's
//! `Clock`, never free-running timers) and writes through
//! `ApiServer`, so admission and validation apply to what they create. `crate::cluster`
//! decides which run.

pub mod clock;
pub mod apf;
pub mod autoregister;
pub mod crd_finalizer;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslicemirroring;
pub mod gc;
pub mod hpa;
pub mod job;
pub mod namespace;
pub mod owned_pods;
pub mod placement;
pub mod replicaset;
pub mod resourcequota;
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
    /// Do the work; called once at start, after every burst of interesting events and when
    /// `next_wake` comes.
    fn reconcile(&self, server: &ApiServer);
    /// Events were missed (the receiver lagged): what was kept from events may be stale.
    fn lagged(&self) {}
    /// When something this controller waits for falls due on the cluster's clock (a back-off,
    /// a schedule, a latency), so the loop reconciles then even if nothing else happens.
    fn next_wake(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
}

/// Run one controller until shutdown.
pub fn spawn(server: Arc<ApiServer>, ctl: Arc<dyn Controller>, clock: clock::Clock, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    // Subscribed before the task first runs: nothing written after the cluster is handed
    // over can slip past a controller that has not been polled yet.
    let mut rx = server.store.subscribe();
    tokio::spawn(async move {
        let name = ctl.name();
        crate::server::storm::with_actor(name, || ctl.reconcile(&server));
        loop {
            let wake = ctl.next_wake();
            let first = tokio::select! {
                _ = shutdown.changed() => return,
                ev = rx.recv() => ev,
                _ = clock.sleep_until(wake) => {
                    ctl.reconcile(&server);
                    tokio::task::yield_now().await;
                    continue;
                }
            };
            let mut dirty = match first {
                Ok(ev) => ctl.observe(&server, &ev),
                Err(RecvError::Lagged(_)) => {
                    ctl.lagged();
                    true
                }
                Err(RecvError::Closed) => return,
            };
            // Drain the burst without waiting.
            loop {
                match rx.try_recv() {
                    Ok(ev) => dirty |= ctl.observe(&server, &ev),
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                        ctl.lagged();
                        dirty = true;
                    }
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
