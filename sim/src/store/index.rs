//! The indexes the store keeps beside its objects: by time, by controller, pods by node.

use std::sync::Arc;

use serde_json::Value;

use super::State;

/// (namespace, name) keys of the objects an index entry holds.
pub(super) type Keys = std::collections::BTreeSet<(String, String)>;

/// Milliseconds since the epoch an object is ordered by (None: never ordered).
pub type TimeOf = fn(&Value) -> Option<i64>;

/// Keys in the order of their objects' time. An object's old time is read from its old
/// version, so each key is held once (half a million Events' keys add up).
pub(super) struct TimeIndex {
    pub(super) of: TimeOf,
    pub(super) order: std::collections::BTreeSet<(i64, String, String)>,
}

impl TimeIndex {
    pub(super) fn set(&mut self, k: &(String, String), old: Option<&Value>, new: Option<&Value>) {
        let (was, now) = (old.and_then(self.of), new.and_then(self.of));
        if was == now {
            return;
        }
        if let Some(t) = was {
            self.order.remove(&(t, k.0.clone(), k.1.clone()));
        }
        if let Some(t) = now {
            self.order.insert((t, k.0.clone(), k.1.clone()));
        }
    }
}

fn controller_uid(obj: &Value) -> Option<&str> {
    obj.get("metadata")?.get("ownerReferences")?.as_array()?.iter().find(|r| r.get("controller") == Some(&Value::Bool(true)))?.get("uid")?.as_str()
}

fn node_name_of(obj: &Value) -> Option<&str> {
    obj.get("spec")?.get("nodeName")?.as_str().filter(|n| !n.is_empty())
}

impl State {
    pub(super) fn index(&mut self, key: &Arc<str>, k: &(String, String), old: Option<&Value>, new: Option<&Value>) {
        if let Some(ti) = self.timed.get_mut(&**key) {
            ti.set(k, old, new);
        }
        let (was, now) = (old.and_then(controller_uid), new.and_then(controller_uid));
        if was != now {
            if let Some(uid) = was {
                let ik = (key.clone(), uid.to_string());
                if let Some(set) = self.by_controller.get_mut(&ik) {
                    set.remove(k);
                    if set.is_empty() {
                        self.by_controller.remove(&ik);
                    }
                }
            }
            if let Some(uid) = now {
                self.by_controller.entry((key.clone(), uid.to_string())).or_default().insert(k.clone());
            }
        }
        if &**key != "pods" {
            return;
        }
        let (was, now) = (old.and_then(node_name_of), new.and_then(node_name_of));
        if was == now {
            return;
        }
        if let Some(n) = was
            && let Some(set) = self.pods_by_node.get_mut(n) {
                set.remove(k);
                if set.is_empty() {
                    self.pods_by_node.remove(n);
                }
            }
        if let Some(n) = now {
            self.pods_by_node.entry(n.to_string()).or_default().insert(k.clone());
        }
    }
}
