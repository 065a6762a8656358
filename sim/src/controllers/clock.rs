//! Time as controllers see it, and how fast the cluster reacts.
//!
//! `Clock` is the wall clock by default; a test can make it manual and advance it, so time
//! driven behaviour (CronJob schedules, crash-loop back-off, kind-like latencies) is tested
//! by moving time forward instead of waiting. `Timing` chooses between the embedded cluster's
//! instant reactions and kind-like latencies with deterministic, seeded jitter.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::watch;

/// The controllers' clock: real time, or a manual clock a test advances.
#[derive(Clone)]
pub struct Clock(Arc<ClockInner>);

struct ClockInner {
    /// `Some` for a manual clock: the current time.
    manual: Option<Mutex<DateTime<Utc>>>,
    /// Bumped on every `advance`, so sleepers on a manual clock re-check.
    ticks: watch::Sender<u64>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(ClockInner { manual: None, ticks: watch::channel(0).0 }))
    }

    /// A clock that stands still at `start` until `advance` moves it.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock(Arc::new(ClockInner { manual: Some(Mutex::new(start)), ticks: watch::channel(0).0 }))
    }

    pub fn is_manual(&self) -> bool {
        self.0.manual.is_some()
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.0.manual {
            Some(t) => *t.lock(),
            None => Utc::now(),
        }
    }

    /// Move a manual clock forward (wakes everything sleeping on it). No-op on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.0.manual {
            *t.lock() += chrono::Duration::from_std(by).unwrap_or_default();
            self.0.ticks.send_modify(|n| *n += 1);
        }
    }

    /// Sleep until `at` on this clock; forever when `at` is `None`.
    pub async fn sleep_until(&self, at: Option<DateTime<Utc>>) {
        let Some(at) = at else { return std::future::pending().await };
        if self.0.manual.is_none() {
            let d = (at - Utc::now()).to_std().unwrap_or_default();
            return tokio::time::sleep(d).await;
        }
        let mut rx = self.0.ticks.subscribe();
        while self.now() < at {
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_manual() { write!(f, "Clock::manual({})", self.now()) } else { f.write_str("Clock::system") }
    }
}

/// How fast the embedded cluster reacts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Timing {
    /// Controllers and kubelets act as soon as they see a change (the default).
    #[default]
    Instant,
    /// kind-like latencies (pod start 1–3 s, provisioning ~1 s, volume deletion ~1 s, garbage
    /// collection 0.2–1 s, namespace termination ~1 s, kubelet log GC every minute), so a
    /// scenario that passes here does not race on kind.
    Kind,
}

/// What takes time on a kind cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Pod bound to a node → containers running (image present, sandbox, start).
    PodStart,
    /// Claim → local-path helper pod → PersistentVolume.
    VolumeProvisioning,
    /// Released volume → helper pod removes its directory → PersistentVolume deleted.
    VolumeDeletion,
    /// Owner gone → the garbage collector deletes a dependent.
    GarbageCollection,
    /// Namespace marked for deletion → its content deleted and the namespace finalized.
    NamespaceTermination,
}

impl Timing {
    /// The delay for `what` happening to the object `key` (e.g. a uid): fixed per key, so a
    /// run is reproducible, and jittered across keys as a real cluster is.
    pub fn delay(self, what: Latency, key: &str) -> Duration {
        if self == Timing::Instant {
            return Duration::ZERO;
        }
        let (lo, hi) = match what {
            Latency::PodStart => (1000, 3000),
            Latency::VolumeProvisioning | Latency::VolumeDeletion | Latency::NamespaceTermination => (800, 1200),
            Latency::GarbageCollection => (200, 1000),
        };
        let seed = super::util::fnv32a(format!("{what:?}/{key}").as_bytes()) as u64;
        Duration::from_millis(lo + seed % (hi - lo + 1))
    }

    /// How often the kubelet removes log directories of pods it no longer knows
    /// (`kuberuntime_gc.go`, run by the kubelet's one-minute container GC loop).
    pub fn log_gc_period(self) -> Option<Duration> {
        (self == Timing::Kind).then_some(Duration::from_secs(60))
    }
}

/// Deadlines a controller waits for, keyed by what is due (e.g. a pod uid). A deadline
/// fires once: after `due` said yes it no longer wakes the controller.
#[derive(Default)]
pub struct Deadlines(Mutex<std::collections::BTreeMap<String, (DateTime<Utc>, bool)>>);

impl Deadlines {
    /// Whether `key`'s deadline (set on first sight to `now + delay`) has passed.
    pub fn due(&self, key: &str, now: DateTime<Utc>, delay: Duration) -> bool {
        self.due_at(key, now, now + chrono::Duration::from_std(delay).unwrap_or_default())
    }

    /// Whether `key`'s deadline (set on first sight to `at`) has passed.
    pub fn due_at(&self, key: &str, now: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        if at <= now && !self.0.lock().contains_key(key) {
            return true;
        }
        let mut m = self.0.lock();
        let entry = m.entry(key.to_string()).or_insert((at, false));
        if entry.0 <= now {
            entry.1 = true;
        }
        entry.1
    }

    /// Forget `key` (done, or its object is gone).
    pub fn clear(&self, key: &str) {
        self.0.lock().remove(key);
    }

    /// Keep only keys for which `keep` holds.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.0.lock().retain(|k, _| keep(k));
    }

    /// The earliest deadline that has not fired yet: the controller loop sleeps until then.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.0.lock().values().filter(|(_, fired)| !fired).map(|(at, _)| *at).min()
    }
}
