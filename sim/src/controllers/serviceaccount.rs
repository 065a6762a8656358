//! The serviceaccounts controller (a `default` ServiceAccount in every namespace) and the
//! root-ca-cert publisher (ConfigMap `kube-root-ca.crt`); both recreate what is deleted.

use serde_json::json;

use crate::api::object;
use super::util::Dirty;
use super::Controller;
use crate::server::ApiServer;
use crate::store::{EventType as Ev, StoreEvent};

pub const ROOT_CA: &str = "kube-root-ca.crt";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
/// A fixed self-signed CA bundle standing in for the cluster CA.
const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIDBTCCAe2gAwIBAgIIY2xlYW5yb29tMA0GCSqGSIb3DQEBCwUAMBUxEzARBgNV\nBAMTCmt1YmVybmV0ZXMwHhcNMjUwMTAxMDAwMDAwWhcNMzUwMTAxMDAwMDAwWjAV\nMRMwEQYDVQQDEwprdWJlcm5ldGVzMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIB\nCgKCAQEAy2NsZWFucm9vbS1zaW0tY2EtcGxhY2Vob2xkZXI=\n-----END CERTIFICATE-----\n";

#[derive(Default)]
pub struct ServiceAccountController {
    dirty: Dirty,
}

impl Controller for ServiceAccountController {
    fn name(&self) -> &'static str {
        "serviceaccount"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            "namespaces" if ev.kind != Ev::Deleted => self.dirty.add("", &ev.name),
            "serviceaccounts" if ev.kind == Ev::Deleted && ev.name == "default" => self.dirty.add("", &ev.namespace),
            "configmaps" if ev.kind == Ev::Deleted && ev.name == ROOT_CA => self.dirty.add("", &ev.namespace),
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        for ns in self.dirty.take(server, "namespaces") {
            if object::is_deleting(&ns) {
                continue;
            }
            let n = object::name_of(&ns);
            if server.store.get("serviceaccounts", n, "default").is_none() {
                let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": n}});
                let _ = server.create_internal("", "v1", "serviceaccounts", Some(n), sa);
            }
            if server.store.get("configmaps", n, ROOT_CA).is_none() {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": ROOT_CA, "namespace": n, "annotations": {"kubernetes.io/description": DESCRIPTION}},
                    "data": {"ca.crt": CA_PEM}});
                let _ = server.create_internal("", "v1", "configmaps", Some(n), cm);
            }
        }
    }
}
