//! The write-storm guard (a debug aid): a writer — a controller of the embedded cluster, or a
//! client's field manager — storing the same object more than N times within one second is
//! a runaway loop (a controller that never reaches a fixed point). Each such storm is logged
//! at error level, naming the writer and the object, and recorded for tests to assert on.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Environment variable that turns the guard on with the given limit (writes per second).
pub const ENV: &str = "CLEANROOM_SIM_WRITE_STORM";

thread_local! {
    /// The in-process controller currently reconciling on this thread, if any.
    static ACTOR: RefCell<Option<&'static str>> = const { RefCell::new(None) };
}

/// Run `f` with writes attributed to the controller `name` (controllers run synchronously
/// on one thread per reconcile pass, so a thread-local is exact).
pub fn with_actor<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    let prev = ACTOR.with(|a| a.replace(Some(name)));
    let r = f();
    ACTOR.with(|a| *a.borrow_mut() = prev);
    r
}

/// One detected storm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteStorm {
    /// `controller/<name>` for an in-process controller, else `manager/<fieldManager>`.
    pub writer: String,
    /// `<resource key> <namespace>/<name>`.
    pub object: String,
    /// Writes counted within the one-second window when the limit was crossed.
    pub writes: u32,
}

impl std::fmt::Display for WriteStorm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} wrote {} more than {} times within one second", self.writer, self.object, self.writes - 1)
    }
}

#[derive(Default)]
pub struct StormGuard {
    /// 0 = off.
    limit: AtomicU32,
    windows: Mutex<HashMap<(String, String), (Instant, u32)>>,
    storms: Mutex<Vec<WriteStorm>>,
}

impl StormGuard {
    /// Turn the guard on (`Some(n)`: more than n writes a second is a storm) or off.
    pub fn set_limit(&self, limit: Option<u32>) {
        self.limit.store(limit.unwrap_or(0), Ordering::Relaxed);
    }

    pub fn limit(&self) -> Option<u32> {
        Some(self.limit.load(Ordering::Relaxed)).filter(|l| *l > 0)
    }

    /// Count one stored write of `key ns/name` by `manager` (or the current controller).
    pub fn record(&self, manager: &str, key: &str, ns: &str, name: &str) {
        let Some(limit) = self.limit() else { return };
        let writer = ACTOR.with(|a| *a.borrow()).map(|c| format!("controller/{c}")).unwrap_or_else(|| format!("manager/{manager}"));
        let object = format!("{key} {ns}/{name}");
        let now = Instant::now();
        let mut windows = self.windows.lock();
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(1));
        }
        let entry = windows.entry((writer.clone(), object.clone())).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        // Report once per window, when the limit is first crossed.
        if entry.1 == limit + 1 {
            let storm = WriteStorm { writer, object, writes: entry.1 };
            tracing::error!(writer = %storm.writer, object = %storm.object, limit, "write storm: {storm}");
            self.storms.lock().push(storm);
        }
    }

    /// Every storm detected so far.
    pub fn storms(&self) -> Vec<WriteStorm> {
        self.storms.lock().clone()
    }
}

/// The limit from `CLEANROOM_SIM_WRITE_STORM`, if set to a positive number.
pub fn limit_from_env() -> Option<u32> {
    std::env::var(ENV).ok().and_then(|v| v.trim().parse().ok()).filter(|n: &u32| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_once_per_writer_and_object() {
        let g = StormGuard::default();
        g.set_limit(Some(3));
        for _ in 0..10 {
            g.record("m", "apps/deployments", "default", "web");
        }
        g.record("m", "apps/deployments", "default", "other");
        with_actor("deployment", || {
            for _ in 0..4 {
                g.record("kube-controller-manager", "apps/replicasets", "default", "web-1");
            }
        });
        let s = g.storms();
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].writer, "manager/m");
        assert_eq!(s[0].object, "apps/deployments default/web");
        assert_eq!(s[1].writer, "controller/deployment");
        assert!(s[1].to_string().contains("more than 3 times"), "{}", s[1]);
    }

    #[test]
    fn off_by_default() {
        let g = StormGuard::default();
        for _ in 0..100 {
            g.record("m", "k", "n", "x");
        }
        assert!(g.storms().is_empty());
    }
}
