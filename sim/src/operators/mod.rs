//! Emulated operators: in-process stand-ins for operators whose Deployment a chart installs.
//! An operator reconciles only while its Deployment has a Running+Ready pod (as the real one
//! only acts while it runs); what it made stays when it goes.

pub mod alertmanager;
pub mod certgen;
pub mod common;
pub mod kubelet;
pub mod prometheus;

use std::sync::Arc;

use crate::admission::WebhookResponder;
use crate::controllers::Controller;
use crate::server::ApiServer;
use crate::store::StoreEvent;

/// One emulated operator.
pub trait EmulatedOperator: Send + Sync {
    fn name(&self) -> &'static str;
    /// Is the operator running (its Deployment has a Running+Ready pod)?
    fn detect(&self, server: &ApiServer) -> bool;
    /// Should this store event trigger a reconcile (cheap filter)?
    fn interested(&self, ev: &StoreEvent) -> bool;
    /// Bring the cluster to what the operator would make of it.
    fn reconcile(&self, server: &ApiServer);
    /// Answers for the operator's admission webhooks (None: plain "allowed").
    fn webhook_responder(&self) -> Option<Arc<dyn WebhookResponder>> {
        None
    }
}

/// Drives the emulated operators from store events.
pub struct OperatorController {
    operators: Vec<Arc<dyn EmulatedOperator>>,
}

impl OperatorController {
    pub fn new(operators: Vec<Arc<dyn EmulatedOperator>>) -> Self {
        OperatorController { operators }
    }
}

impl Controller for OperatorController {
    fn name(&self) -> &'static str {
        "emulated-operators"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        // Events are written by everyone and never matter to an operator.
        &*ev.key != "events" && self.operators.iter().any(|o| o.interested(ev))
    }

    fn reconcile(&self, server: &ApiServer) {
        for op in &self.operators {
            if op.detect(server) {
                op.reconcile(server);
            }
        }
    }
}
