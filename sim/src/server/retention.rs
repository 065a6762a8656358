//! What kube-apiserver lets expire: Events live `--event-ttl` (1 h by default) after their
//! last write, as the etcd lease each Event write attaches does.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ApiServer;
use crate::api::object;

/// kube-apiserver's default `--event-ttl`.
pub const DEFAULT_EVENT_TTL: Duration = Duration::from_secs(3600);

/// The Event's last write as it records it (the newest of its timestamps).
fn last_write(ev: &Value) -> Option<DateTime<Utc>> {
    ["/metadata/creationTimestamp", "/lastTimestamp", "/firstTimestamp", "/eventTime", "/series/lastObservedTime"]
        .iter()
        .filter_map(|p| ev.pointer(p).and_then(|t| t.as_str()))
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc)))
        .max()
}

/// What the store orders Events by, so a sweep reads only the expired ones.
pub fn last_write_millis(ev: &Value) -> Option<i64> {
    last_write(ev).map(|t| t.timestamp_millis())
}

impl ApiServer {
    /// Remove every Event whose last write is older than `ttl` (lease expiry: no
    /// finalizers, no grace). Returns how many went.
    pub fn expire_events(&self, ttl: Duration, now: DateTime<Utc>) -> usize {
        let Ok(rt) = self.resource("", "v1", "events") else { return 0 };
        let Ok(ttl) = chrono::Duration::from_std(ttl) else { return 0 };
        let mut gone = 0;
        for (ns, name) in self.store.older_than(&rt.key, (now - ttl).timestamp_millis() + 1) {
            // Re-read: a write since the index was consulted renews the lease.
            let Some(ev) = self.store.get(&rt.key, &ns, &name) else { continue };
            if last_write(&ev).is_none_or(|t| now - t < ttl) {
                continue;
            }
            if let Ok(removed) = self.store.remove(&rt.key, &ns, &name, object::rv_of(&ev)) {
                self.after_remove(&rt, &removed);
                gone += 1;
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_go_a_ttl_after_their_last_write() {
        let s = ApiServer::new();
        let rt = s.resource("", "v1", "events").unwrap();
        let ev = |name: &str, last: &str| json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}, "reason": "R", "message": "m", "type": "Normal",
            "firstTimestamp": "2030-01-01T00:00:00Z", "lastTimestamp": last});
        s.create(&rt, Some("default"), ev("old", "2030-01-01T00:00:00Z"), &Default::default()).unwrap();
        s.create(&rt, Some("default"), ev("renewed", "2030-01-01T00:50:00Z"), &Default::default()).unwrap();
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
        // creationTimestamp is now (before 2030), so only the event timestamps count here.
        assert_eq!(s.expire_events(DEFAULT_EVENT_TTL, at("2030-01-01T00:59:59Z")), 0);
        assert_eq!(s.expire_events(DEFAULT_EVENT_TTL, at("2030-01-01T01:00:00Z")), 1);
        assert!(s.get(&rt, Some("default"), "old").is_err());
        assert!(s.get(&rt, Some("default"), "renewed").is_ok());
        assert_eq!(s.expire_events(DEFAULT_EVENT_TTL, at("2030-01-01T01:50:00Z")), 1);
    }
}
