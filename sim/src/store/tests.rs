//! The store's unit tests.

use super::*;
use serde_json::json;

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
}

#[test]
fn rv_is_global_and_conflicts_detected() {
    let s = Store::new();
    let a = s.create("configmaps", "default", "a", cm("a")).unwrap();
    let b = s.create("secrets", "default", "b", cm("b")).unwrap();
    let rva = meta_rv(&a).unwrap();
    let rvb = meta_rv(&b).unwrap();
    assert!(rvb > rva);
    assert_eq!(s.create("configmaps", "default", "a", cm("a")), Err(StoreError::AlreadyExists));
    s.update("configmaps", "default", "a", cm("a"), Some(rva)).unwrap();
    assert_eq!(s.update("configmaps", "default", "a", cm("a"), Some(rva)).unwrap_err(), StoreError::Conflict);
}

#[test]
fn watch_replays_after_version() {
    let s = Store::new();
    let a = s.create("configmaps", "default", "a", cm("a")).unwrap();
    s.create("configmaps", "default", "b", cm("b")).unwrap();
    s.remove("configmaps", "default", "a", None).unwrap();
    let (backlog, _rx) = s.watch_from(meta_rv(&a).unwrap()).unwrap();
    let kinds: Vec<_> = backlog.iter().map(|e| (e.name.clone(), e.kind)).collect();
    assert_eq!(kinds, vec![("b".to_string(), EventType::Added), ("a".to_string(), EventType::Deleted)]);
}

#[test]
fn stale_history_goes_beyond_the_floor() {
    let s = Store::new();
    for i in 0..HISTORY_FLOOR + 500 {
        s.create("configmaps", "default", &format!("c{i}"), cm("c")).unwrap();
    }
    assert_eq!(s.history_len(), HISTORY_FLOOR + 500);
    let later = std::time::Instant::now() + HISTORY_FRESH + std::time::Duration::from_secs(1);
    s.compact_stale(later);
    assert_eq!(s.history_len(), HISTORY_FLOOR);
    // The dropped past answers 410 Gone; the kept part still replays.
    assert!(matches!(s.watch_from(2), Err(StoreError::Gone { .. })));
    let (kept, _) = s.watch_from(s.current_rv() - 10).unwrap();
    assert_eq!(kept.len(), 10);
}

#[test]
fn a_change_shares_the_bytes_the_history_logged_for_the_version_before() {
    let s = Store::new();
    let a = s.create("configmaps", "default", "a", cm("a")).unwrap();
    let b = s.update("configmaps", "default", "a", json!({"metadata": {"name": "a", "namespace": "default"}, "data": {"k": "1"}}), meta_rv(&a)).unwrap();
    {
        let st = s.state.lock();
        let (first, second) = (&st.log[st.log.len() - 2], &st.log[st.log.len() - 1]);
        assert!(Arc::ptr_eq(&first.object, second.prev.as_ref().unwrap()), "prev is the logged bytes, not a second copy");
    }
    // Once the history has let go of them, the bytes are written afresh from the object.
    s.set_history_capacity(1);
    let c = s.create("configmaps", "default", "c", cm("c")).unwrap();
    s.update("configmaps", "default", "a", cm("a"), meta_rv(&b)).unwrap();
    let (log, _) = s.watch_from(meta_rv(&c).unwrap()).unwrap();
    assert_eq!(log[0].prev.as_deref(), Some(&*b));
    assert_eq!(log[0].object["data"], Value::Null);
}

#[test]
fn objects_kept_packed_read_and_replay_as_written() {
    let s = Store::new();
    s.create("events", "default", "early", cm("early")).unwrap();
    s.keep_packed("events");
    let first = s.create("events", "default", "a", json!({"metadata": {"name": "a", "namespace": "default"}, "count": 1})).unwrap();
    let second = s.update("events", "default", "a", json!({"metadata": {"name": "a", "namespace": "default"}, "count": 2}), meta_rv(&first)).unwrap();
    assert_eq!(*s.get("events", "default", "a").unwrap(), *second);
    assert_eq!(s.get("events", "default", "early").unwrap()["metadata"]["name"], "early");
    assert_eq!(s.list("events", Some("default")).0.len(), 2);
    // A stale resourceVersion is still a conflict, read from the bytes.
    assert_eq!(s.update("events", "default", "a", cm("a"), meta_rv(&first)).unwrap_err(), StoreError::Conflict);
    let gone = s.remove("events", "default", "a", None).unwrap();
    let (log, _) = s.watch_from(meta_rv(&first).unwrap() - 1).unwrap();
    let seen: Vec<_> = log.iter().map(|e| (e.kind, e.object["count"].clone(), e.prev.as_ref().map(|p| p["count"].clone()))).collect();
    assert_eq!(seen, [(EventType::Added, json!(1), None), (EventType::Modified, json!(2), Some(json!(1))), (EventType::Deleted, json!(2), Some(json!(2)))]);
    assert_eq!(*log[2].object, *gone);
}

#[test]
fn time_index_follows_writes() {
    let s = Store::new();
    let at = |o: &Value| o["t"].as_i64();
    let ev = |name: &str, t: Option<i64>| json!({"metadata": {"name": name, "namespace": "d"}, "t": t});
    s.create("events", "d", "before", ev("before", Some(5))).unwrap();
    s.order_by_time("events", at);
    s.create("events", "d", "b", ev("b", Some(20))).unwrap();
    s.create("events", "d", "c", ev("c", Some(10))).unwrap();
    s.create("events", "d", "untimed", ev("untimed", None)).unwrap();
    let names = |cutoff| s.older_than("events", cutoff).into_iter().map(|(_, n)| n).collect::<Vec<_>>();
    assert_eq!(names(21), ["before", "c", "b"]);
    s.update("events", "d", "c", ev("c", Some(30)), None).unwrap();
    s.remove("events", "d", "before", None).unwrap();
    assert_eq!(names(21), ["b"]);
    assert_eq!(names(31), ["b", "c"]);
}

#[test]
fn stored_objects_are_compacted_not_changed() {
    let s = Store::new();
    let mut big = serde_json::Map::with_capacity(64);
    big.insert("metadata".into(), json!({"name": "x", "namespace": "d", "labels": {"a": "b"}}));
    big.insert("data".into(), json!({"list": [1, "two", {"three": [3]}], "s": String::with_capacity(100) + "v"}));
    let obj = Value::Object(big);
    let stored = s.create("configmaps", "d", "x", obj.clone()).unwrap();
    let mut want = obj;
    set_rv(&mut want, meta_rv(&stored).unwrap());
    assert_eq!(*stored, want);
    assert_eq!(serde_json::to_string(&*stored).unwrap(), serde_json::to_string(&want).unwrap(), "key order kept");
}

#[test]
fn pods_indexed_by_node() {
    let s = Store::new();
    let pod = |name: &str, node: &str| json!({"metadata": {"name": name, "namespace": "d"}, "spec": {"nodeName": node}});
    s.create("pods", "d", "a", pod("a", "n1")).unwrap();
    s.create("pods", "d", "b", pod("b", "")).unwrap();
    s.update("pods", "d", "b", pod("b", "n1"), None).unwrap();
    s.create("pods", "d", "c", pod("c", "n2")).unwrap();
    let names = |n: &str| s.pods_on_node(n).iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names("n1"), ["a", "b"]);
    s.remove("pods", "d", "a", None).unwrap();
    s.update("pods", "d", "c", pod("c", "n1"), None).unwrap();
    assert_eq!(names("n1"), ["b", "c"]);
    assert!(names("n2").is_empty());
}

#[test]
fn objects_indexed_by_controller() {
    let s = Store::new();
    let owned = |name: &str, uid: &str, controller: bool| json!({"metadata": {"name": name, "namespace": "d", "ownerReferences": [{"uid": uid, "controller": controller}]}});
    s.create("pods", "d", "a", owned("a", "u1", true)).unwrap();
    s.create("pods", "d", "b", owned("b", "u1", false)).unwrap();
    s.create("configmaps", "d", "c", owned("c", "u1", true)).unwrap();
    let names = |key: &str, uid: &str| s.controlled_by(key, "d", uid).iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names("pods", "u1"), ["a"]);
    s.update("pods", "d", "b", owned("b", "u1", true), None).unwrap();
    s.update("pods", "d", "a", owned("a", "u2", true), None).unwrap();
    assert_eq!(names("pods", "u1"), ["b"]);
    assert_eq!(names("pods", "u2"), ["a"]);
    s.remove("pods", "d", "b", None).unwrap();
    assert!(names("pods", "u1").is_empty());
    assert_eq!(names("configmaps", "u1"), ["c"]);
}

#[test]
fn list_after_a_key() {
    let s = Store::new();
    for (ns, n) in [("a", "x"), ("b", "y"), ("b", "z"), ("c", "w")] {
        s.create("configmaps", ns, n, cm(n)).unwrap();
    }
    let names = |v: (Vec<Arc<Value>>, u64)| v.0.iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(s.list_after("configmaps", None, Some(("b", "y")))), ["z", "w"]);
    assert_eq!(names(s.list_after("configmaps", Some("b"), Some(("b", "y")))), ["z"]);
    assert_eq!(names(s.list_after("configmaps", Some("b"), Some(("a", "x")))), ["y", "z"]);
    assert!(names(s.list_after("configmaps", Some("a"), Some(("b", "y")))).is_empty());
    assert_eq!(names(s.list_after("configmaps", None, None)), ["x", "y", "z", "w"]);
}

#[test]
fn list_by_namespace() {
    let s = Store::new();
    s.create("configmaps", "a", "x", cm("x")).unwrap();
    s.create("configmaps", "b", "y", cm("y")).unwrap();
    s.create("configmaps", "b", "z", cm("z")).unwrap();
    assert_eq!(s.list("configmaps", Some("b")).0.len(), 2);
    assert_eq!(s.list("configmaps", None).0.len(), 3);
    assert_eq!(s.list("configmaps", Some("c")).0.len(), 0);
}

fn held_packed(s: &Store, key: &str, name: &str) -> bool {
    matches!(s.state.lock().objects[key][&("d".to_string(), name.to_string())], Stored::Packed(_))
}

fn held_raw(s: &Store, key: &str, name: &str) -> bool {
    matches!(s.state.lock().objects[key][&("d".to_string(), name.to_string())], Stored::Raw(_))
}

#[test]
fn a_cold_object_shares_the_historys_bytes_until_they_go_then_is_packed() {
    let s = Store::new();
    let c = serde_json::to_string(&*s.create("configmaps", "d", "c", cm("c")).unwrap()).unwrap();
    s.cool();
    assert_eq!(s.cool(), 1);
    assert!(held_raw(&s, "configmaps", "c"));
    // Read, it is parsed again; its next change still shares the logged bytes as `prev`.
    assert_eq!(serde_json::to_string(&*s.get("configmaps", "d", "c").unwrap()).unwrap(), c);
    assert!(!held_raw(&s, "configmaps", "c"));
    s.cool();
    assert_eq!(s.cool(), 1);
    let rv = s.current_rv();
    s.modify("configmaps", "d", "c", |cur| Ok::<_, ()>(Some(json!({"metadata": cur["metadata"].clone(), "data": {"k": "v"}})))).unwrap().unwrap();
    let (log, _) = s.watch_from(rv).unwrap();
    assert_eq!(serde_json::to_string(&**log[0].prev.as_ref().unwrap()).unwrap(), c);
    // Once the history lets go of its bytes, the cold object is packed.
    s.cool();
    s.cool();
    assert!(held_raw(&s, "configmaps", "c"));
    s.set_history_capacity(1);
    s.create("configmaps", "d", "other", cm("other")).unwrap();
    assert_eq!(s.cool(), 1, "c's bytes are its own now");
    assert!(held_packed(&s, "configmaps", "c"));
    assert_eq!(s.get("configmaps", "d", "c").unwrap()["data"]["k"], "v");
}

#[test]
fn objects_nobody_touches_go_cold_and_come_back_as_they_were() {
    let s = Store::new();
    let pod = |name: &str| json!({"metadata": {"name": name, "namespace": "d", "ownerReferences": [{"uid": "u1", "controller": true}]},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Running"}});
    // Held by nobody but the store (bar `held` below).
    let a = serde_json::to_string(&*s.create("pods", "d", "a", pod("a")).unwrap()).unwrap();
    let b: Value = (*s.create("pods", "d", "b", pod("b")).unwrap()).clone();
    s.create("configmaps", "d", "c", cm("c")).unwrap();
    // Only the last change stays in the history: a and b have not been written since.
    s.set_history_capacity(1);
    assert_eq!(s.cool(), 0, "all three were written since the last sweep");
    let held = s.get("pods", "d", "b").unwrap();
    assert_eq!(s.cool(), 2, "a and c: neither written nor read since, and held by nobody else");
    assert!(held_packed(&s, "pods", "a"));
    assert!(!held_packed(&s, "pods", "b"), "b was read since the last sweep");
    assert!(held_raw(&s, "configmaps", "c"), "c's last change is still in the history: held as its bytes there");
    assert_eq!(s.cool(), 0, "b is still held by a reader");
    drop(held);
    assert_eq!(s.cool(), 1);
    assert!(held_packed(&s, "pods", "b"));

    // Read again, a cold object is what was stored, key order included, and held parsed again.
    let again = s.get("pods", "d", "a").unwrap();
    assert_eq!(serde_json::to_string(&*again).unwrap(), a);
    drop(again);
    assert!(!held_packed(&s, "pods", "a"));
    // The indexes read cold objects too.
    let names = |v: Vec<Arc<Value>>| v.iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(s.pods_on_node("n1")), ["a", "b"]);
    assert!(!held_packed(&s, "pods", "b"));
    assert_eq!(s.cool(), 0, "both were read since the last sweep");
    assert_eq!(s.cool(), 2);
    assert_eq!(names(s.controlled_by("pods", "d", "u1")), ["a", "b"]);
    assert_eq!(s.cool(), 0);
    assert_eq!(s.cool(), 2);
    assert_eq!(names(s.list("pods", Some("d")).0), ["a", "b"]);

    // Writing a cold object: conflicts still checked, and its change carries what it was.
    s.cool();
    s.cool();
    assert!(held_packed(&s, "pods", "b"));
    assert_eq!(s.update("pods", "d", "b", pod("b"), Some(meta_rv(&b).unwrap() - 1)).unwrap_err(), StoreError::Conflict);
    let rv = s.current_rv();
    s.modify("pods", "d", "b", |cur| Ok::<_, ()>(Some(json!({"metadata": cur["metadata"].clone(), "status": {"phase": "Succeeded"}})))).unwrap().unwrap();
    let (log, _) = s.watch_from(rv).unwrap();
    assert_eq!(log[0].prev.as_deref(), Some(&b));
    assert_eq!(log[0].object["status"]["phase"], "Succeeded");
}

#[test]
fn types_held_packed_are_not_parsed_back_by_reads() {
    let s = Store::new();
    s.keep_packed("events");
    s.create("events", "d", "e", cm("e")).unwrap();
    assert_eq!(s.get("events", "d", "e").unwrap()["metadata"]["name"], "e");
    assert!(held_packed(&s, "events", "e"));
}
