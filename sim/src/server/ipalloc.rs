//! The Service cluster-IP allocator over kind's service CIDR (10.96.0.0/12), as the
//! service REST storage's bitmap allocator behaves: an explicit `clusterIP` must be free
//! and in range, dynamic allocations come at random from above the range's first 256
//! addresses (kept for static ones such as 10.96.0.1 for `kubernetes` and 10.96.0.10 for
//! kube-dns), and an address is released when its Service goes.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use parking_lot::Mutex;
use rand::Rng;
use serde_json::{json, Value};

use crate::api::errors::{ApiError, ApiResult, Cause};

pub const SERVICE_CIDR: &str = "10.96.0.0/12";
const BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const SIZE: u32 = 1 << 20;
/// randomScanStrategyWithOffset: min(max(16, size/16), 256) addresses at the bottom are
/// handed out dynamically only when the rest is full.
const STATIC_BAND: u32 = 256;

#[derive(Default)]
pub struct ServiceIps {
    taken: Mutex<HashSet<u32>>,
}

fn parse(ip: &str) -> Option<u32> {
    ip.parse::<Ipv4Addr>().ok().map(u32::from)
}

fn in_range(ip: u32) -> bool {
    // Neither the network nor the broadcast address.
    ip > BASE && ip < BASE + SIZE - 1
}

impl ServiceIps {
    /// Take `spec.clusterIP` (or a fresh address when it is empty); None when the Service
    /// needs no address (headless, ExternalName). `dry_run` checks without taking.
    pub fn allocate(&self, name: &str, spec: &Value, dry_run: bool) -> ApiResult<Option<String>> {
        if spec.get("type").and_then(|t| t.as_str()) == Some("ExternalName") {
            return Ok(None);
        }
        let wanted = spec.get("clusterIP").and_then(|c| c.as_str()).unwrap_or("");
        if wanted == "None" {
            return Ok(None);
        }
        let mut taken = self.taken.lock();
        if wanted.is_empty() {
            let ip = Self::next_free(&taken).ok_or_else(|| ApiError::internal("failed to allocate a serviceIP: range is full"))?;
            if !dry_run {
                taken.insert(ip);
            }
            return Ok(Some(Ipv4Addr::from(ip).to_string()));
        }
        let failed = |why: String| {
            let cause = Cause::new("FieldValueInvalid", format!("Invalid value: []string{{{wanted:?}}}: failed to allocate IP {wanted}: {why}"), "spec.clusterIPs");
            ApiError::invalid("Service", "", name, vec![cause])
        };
        let Some(ip) = parse(wanted).filter(|ip| in_range(*ip)) else {
            return Err(failed(format!("the provided IP ({wanted}) is not in the valid range. The range of valid IPs is {SERVICE_CIDR}")));
        };
        if taken.contains(&ip) {
            return Err(failed("provided IP is already allocated".into()));
        }
        if !dry_run {
            taken.insert(ip);
        }
        Ok(Some(wanted.to_string()))
    }

    pub fn release(&self, ip: &str) {
        if let Some(ip) = parse(ip) {
            self.taken.lock().remove(&ip);
        }
    }

    pub fn is_allocated(&self, ip: &str) -> bool {
        parse(ip).is_some_and(|ip| self.taken.lock().contains(&ip))
    }

    fn next_free(taken: &HashSet<u32>) -> Option<u32> {
        let mut rng = rand::rng();
        let (lo, hi) = (BASE + STATIC_BAND, BASE + SIZE - 1);
        for _ in 0..64 {
            let ip = rng.random_range(lo..hi);
            if !taken.contains(&ip) {
                return Some(ip);
            }
        }
        (lo..hi).chain(BASE + 1..lo).find(|ip| !taken.contains(ip))
    }
}

/// The cluster IP a stored Service holds, if any.
pub fn held_ip(svc: &Value) -> Option<&str> {
    svc.pointer("/spec/clusterIP").and_then(|c| c.as_str()).filter(|c| !c.is_empty() && *c != "None")
}

/// Write the allocation into a new Service's spec.
pub fn fill_spec(spec: &mut serde_json::Map<String, Value>, ip: &str) {
    spec.insert("clusterIP".into(), json!(ip));
    spec.insert("clusterIPs".into(), json!([ip]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_taken_and_out_of_range_addresses_are_refused() {
        let a = ServiceIps::default();
        assert_eq!(a.allocate("k", &json!({"clusterIP": "10.96.0.1"}), false).unwrap().as_deref(), Some("10.96.0.1"));
        let e = a.allocate("x", &json!({"clusterIP": "10.96.0.1"}), false).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(e.message, "Service \"x\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.1\"}: failed to allocate IP 10.96.0.1: provided IP is already allocated");
        assert!(a.allocate("x", &json!({"clusterIP": "10.1.0.1"}), false).unwrap_err().message.contains("is not in the valid range"));
        a.release("10.96.0.1");
        assert!(a.allocate("x", &json!({"clusterIP": "10.96.0.1"}), true).is_ok());
        assert!(!a.is_allocated("10.96.0.1"), "dry run takes nothing");
    }

    #[test]
    fn dynamic_addresses_avoid_the_static_band() {
        let a = ServiceIps::default();
        for _ in 0..200 {
            let ip = a.allocate("s", &json!({}), false).unwrap().unwrap();
            let n = parse(&ip).unwrap();
            assert!(n >= BASE + STATIC_BAND && in_range(n), "{ip}");
        }
        assert_eq!(a.allocate("h", &json!({"clusterIP": "None"}), false).unwrap(), None);
        assert_eq!(a.allocate("e", &json!({"type": "ExternalName"}), false).unwrap(), None);
    }
}
