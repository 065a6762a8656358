//! client-go's event correlation (`tools/record/events_cache.go`), the state each event
//! recorder keeps: what `crate::events::record` asks before it writes an Event.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// client-go's `EventCorrelator` (`events_cache.go`), one state for every recorder (keys carry
/// the component and host, as each process's own correlator would). Bounded as its LRUs are,
/// by forgetting: a forgotten entry only costs a fresh Event or a fresh burst.
#[derive(Default)]
pub struct Correlator {
    /// Event key → (Event name, count, firstTimestamp) of what a repeat bumps.
    seen: HashMap<String, (String, i64, String)>,
    /// Aggregate key → (distinct messages, last seen).
    similar: HashMap<String, (HashSet<String>, Instant)>,
    /// Source + object → (tokens, last refill) of the spam filter's token bucket.
    spam: HashMap<String, (f64, Instant)>,
}

/// More than this many events differing only in message within `AGGREGATE_WINDOW` are
/// combined into one (`defaultAggregateMaxEvents`).
const AGGREGATE_MAX: usize = 10;
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);
/// A source may send 25 events about an object, then one per 5 minutes (`defaultSpamBurst`,
/// `defaultSpamQPS`).
const SPAM_BURST: f64 = 25.0;
const SPAM_REFILL_PER_SEC: f64 = 1.0 / 300.0;
/// Entries each map holds before it forgets (client-go's LRUs hold 4096 per process).
const REMEMBERED: usize = 50_000;

/// What to write for one event, after correlation.
pub enum Outcome {
    /// Dropped by the spam filter.
    Skip,
    Create { name: String, message: String, count: i64, first: String },
    Bump { name: String, message: String, count: i64, first: String },
}

impl Correlator {
    /// `EventCorrelate`: aggregate, count, then filter. `object_key` names the source and the
    /// involved object; `reason_key` adds the type and reason.
    pub fn correlate(&mut self, object_key: &str, reason_key: &str, message: &str, now_ts: &str, new_name: impl FnOnce() -> String, now: Instant) -> Outcome {
        // Aggregation: the 10th distinct message of a kind within the window, and every one
        // after it, goes to one "(combined from similar events)" Event.
        let aggregate_key = format!("{object_key}\x00{reason_key}");
        forget_if_full(&mut self.similar);
        let rec = self.similar.entry(aggregate_key.clone()).or_insert_with(|| (HashSet::new(), now));
        if now.duration_since(rec.1) > AGGREGATE_WINDOW {
            rec.0.clear();
        }
        rec.0.insert(message.to_string());
        rec.1 = now;
        let (key, message) = if rec.0.len() < AGGREGATE_MAX {
            (format!("{aggregate_key}\x00{message}"), message.to_string())
        } else {
            // Keep the set below the threshold so the next one aggregates too.
            if let Some(any) = rec.0.iter().next().cloned() {
                rec.0.remove(&any);
            }
            (aggregate_key, format!("(combined from similar events): {message}"))
        };
        // Counting: a repeat bumps the Event recorded first (the count goes up even when the
        // filter then drops it, as client-go's logger records the observation first).
        forget_if_full(&mut self.seen);
        let outcome = match self.seen.get_mut(&key) {
            Some((name, count, first)) => {
                *count += 1;
                Outcome::Bump { name: name.clone(), message, count: *count, first: first.clone() }
            }
            None => {
                let name = new_name();
                self.seen.insert(key, (name.clone(), 1, now_ts.to_string()));
                Outcome::Create { name, message, count: 1, first: now_ts.to_string() }
            }
        };
        // The spam filter: a token bucket per source and object.
        forget_if_full(&mut self.spam);
        let bucket = self.spam.entry(object_key.to_string()).or_insert((SPAM_BURST, now));
        bucket.0 = (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * SPAM_REFILL_PER_SEC).min(SPAM_BURST);
        bucket.1 = now;
        if bucket.0 < 1.0 {
            return Outcome::Skip;
        }
        bucket.0 -= 1.0;
        outcome
    }
}

fn forget_if_full<V>(m: &mut HashMap<String, V>) {
    if m.len() >= REMEMBERED {
        m.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(c: &mut Correlator, object: &str, messages: &[&str], now: Instant) -> Vec<String> {
        let mut n = 0;
        messages.iter().map(|m| match c.correlate(object, "Normal\x00R", m, "t", || { n += 1; format!("e{n}") }, now) {
            Outcome::Skip => "skip".to_string(),
            Outcome::Create { name, message, count, .. } => format!("create {name} {count} {message}"),
            Outcome::Bump { name, message, count, .. } => format!("bump {name} {count} {message}"),
        }).collect()
    }

    #[test]
    fn repeats_bump_similar_ones_combine_and_a_burst_is_capped() {
        let mut c = Correlator::default();
        let t = Instant::now();
        let msgs: Vec<String> = (0..30).map(|i| format!("Created pod: p{i}")).collect();
        let refs: Vec<&str> = msgs.iter().map(String::as_str).collect();
        let got = outcomes(&mut c, "rs", &refs, t);
        // Nine distinct messages are Events of their own; the tenth starts the combined one.
        assert_eq!(got[8], "create e9 1 Created pod: p8");
        assert_eq!(got[9], "create e10 1 (combined from similar events): Created pod: p9");
        assert_eq!(got[10], "bump e10 2 (combined from similar events): Created pod: p10");
        // 25 about one object, then the spam filter drops them (its bucket refills in 5 minutes).
        assert_eq!(got[24], "bump e10 16 (combined from similar events): Created pod: p24");
        assert!(got[25..].iter().all(|o| o == "skip"), "{got:?}");
        let later = outcomes(&mut c, "rs", &["Created pod: q"], t + Duration::from_secs(301));
        assert_eq!(later, ["bump e10 22 (combined from similar events): Created pod: q"], "counted while dropped");
        // Another object has its own burst; an exact repeat bumps its Event.
        assert_eq!(outcomes(&mut c, "pod", &["Started", "Started"], t), ["create e1 1 Started", "bump e1 2 Started"]);
    }
}
