//! Which scenarios a run takes: by name, by tag, and by shard of a CI matrix.
//!
//! Shards partition the selection: every scenario lands in exactly one of `N` shards, so the union of
//! `--shard 1/N` … `--shard N/N` is the whole selection with no overlap. Without durations, scenarios are
//! dealt round-robin in name order (stable for a given set of scenarios); with the durations of an earlier
//! report, the longest go first, each to the least loaded shard (unknown durations count as the mean of
//! the known ones), ties broken by name, so every shard computes the same assignment on its own.

use std::collections::BTreeMap;

use super::Scenario;

/// `--shard I/N`: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shard: write I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Scenario durations (ms) from an earlier `report.json`.
pub fn durations_from_report(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not a cleanroom report.json: {e}"))?;
    let scenarios = v.get("scenarios").and_then(|s| s.as_array()).ok_or("not a cleanroom report.json: no `scenarios` list")?;
    Ok(scenarios
        .iter()
        .filter_map(|s| Some((s.get("name")?.as_str()?.to_string(), s.get("duration_ms")?.as_u64()?)))
        .collect())
}

/// The names of shard `shard` among `names`.
pub fn shard_names(names: &[String], shard: Shard, durations: Option<&BTreeMap<String, u64>>) -> Vec<String> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    sorted.dedup();
    let assigned: Vec<(usize, &String)> = match durations {
        None => sorted.iter().enumerate().map(|(i, n)| (i % shard.count, *n)).collect(),
        Some(d) => {
            let known: Vec<u64> = sorted.iter().filter_map(|n| d.get(*n).copied()).collect();
            let mean = if known.is_empty() { 1 } else { known.iter().sum::<u64>() / known.len() as u64 };
            let mut by_cost: Vec<(u64, &String)> = sorted.iter().map(|n| (d.get(*n).copied().unwrap_or(mean), *n)).collect();
            by_cost.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let mut load = vec![0u64; shard.count];
            by_cost
                .into_iter()
                .map(|(cost, n)| {
                    let lightest = (0..shard.count).min_by_key(|&i| (load[i], i)).expect("count > 0");
                    load[lightest] += cost;
                    (lightest, n)
                })
                .collect()
        }
    };
    let mut mine: Vec<String> = assigned.into_iter().filter(|(s, _)| *s == shard.index - 1).map(|(_, n)| n.clone()).collect();
    mine.sort();
    mine
}

/// The order scenarios start in when several run at once: longest first (the classic LPT schedule), so
/// the longest one is not left to start last and run alone. Costs come from an earlier report's durations
/// (`name` looked up without its `#K` repeat suffix); scenarios it does not know cost `fallback(i)` scaled
/// to the known ones' mean. Ties keep selection order. Returns indices into `names`.
pub fn start_order(names: &[&str], durations: Option<&BTreeMap<String, u64>>, fallback: impl Fn(usize) -> u64) -> Vec<usize> {
    let base = |n: &str| n.split('#').next().unwrap_or(n).to_string();
    let known: Vec<u64> = names.iter().filter_map(|n| durations.and_then(|d| d.get(&base(n)).copied())).collect();
    let unknown: Vec<u64> = (0..names.len()).filter(|&i| durations.and_then(|d| d.get(&base(names[i]))).is_none()).map(&fallback).collect();
    // Put fallback estimates on the durations' scale: an unknown scenario of average estimate costs the mean.
    let scale = match (known.is_empty(), unknown.is_empty()) {
        (false, false) => {
            let mean_known = known.iter().sum::<u64>() as f64 / known.len() as f64;
            let mean_unknown = unknown.iter().sum::<u64>().max(1) as f64 / unknown.len() as f64;
            mean_known / mean_unknown
        }
        _ => 1.0,
    };
    let cost = |i: usize| -> u64 {
        match durations.and_then(|d| d.get(&base(names[i]))) {
            Some(ms) => *ms,
            None => (fallback(i) as f64 * scale) as u64,
        }
    };
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(i)));
    order
}

/// Tag filters: keep scenarios with any of `tags` (when given), drop those with any of `skip`.
pub fn filter_tags(all: Vec<Scenario>, tags: &[String], skip: &[String]) -> Vec<Scenario> {
    all.into_iter()
        .filter(|s| tags.is_empty() || s.tags.iter().any(|t| tags.contains(t)))
        .filter(|s| !s.tags.iter().any(|t| skip.contains(t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("s{i:02}")).collect()
    }

    fn assert_partition(all: &[String], count: usize, durations: Option<&BTreeMap<String, u64>>) {
        let mut union: Vec<String> = Vec::new();
        for index in 1..=count {
            let part = shard_names(all, Shard { index, count }, durations);
            for n in &part {
                assert!(!union.contains(n), "{n} is in two shards of {count}");
            }
            union.extend(part);
        }
        union.sort();
        let mut expected = all.to_vec();
        expected.sort();
        assert_eq!(union, expected, "the shards of {count} together are the whole selection");
    }

    #[test]
    fn shards_partition_the_selection() {
        for n in [0, 1, 2, 7, 10, 31] {
            let all = names(n);
            let d: BTreeMap<String, u64> = all.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(i, s)| (s.clone(), (i as u64 * 37) % 11 * 100)).collect();
            for count in 1..=6 {
                assert_partition(&all, count, None);
                assert_partition(&all, count, Some(&d));
            }
        }
    }

    #[test]
    fn round_robin_is_balanced_and_stable() {
        let all = names(10);
        let sizes: Vec<usize> = (1..=3).map(|i| shard_names(&all, Shard { index: i, count: 3 }, None).len()).collect();
        assert_eq!(sizes, vec![4, 3, 3]);
        let mut shuffled = all.clone();
        shuffled.reverse();
        assert_eq!(shard_names(&all, Shard { index: 2, count: 3 }, None), shard_names(&shuffled, Shard { index: 2, count: 3 }, None));
    }

    #[test]
    fn durations_balance_the_load() {
        let all: Vec<String> = ["big", "a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let d = BTreeMap::from([("big".to_string(), 1000), ("a".into(), 250), ("b".into(), 250), ("c".into(), 250), ("d".into(), 250)]);
        assert_eq!(shard_names(&all, Shard { index: 1, count: 2 }, Some(&d)), vec!["big".to_string()]);
        assert_eq!(shard_names(&all, Shard { index: 2, count: 2 }, Some(&d)).len(), 4);
    }

    #[test]
    fn longest_starts_first() {
        let names = ["a", "runbook", "b#1", "c"];
        let d = BTreeMap::from([("runbook".to_string(), 45_000), ("a".into(), 2_000), ("b".into(), 9_000)]);
        // c is the only unknown, so it costs the known mean (18.7 s): after runbook, before b.
        let order = start_order(&names, Some(&d), |i| [1, 1, 1, 2][i]);
        assert_eq!(order, vec![1, 3, 2, 0]);
        // Without durations the fallback alone orders them; ties keep selection order.
        assert_eq!(start_order(&names, None, |i| [3, 9, 3, 1][i]), vec![1, 0, 2, 3]);
    }

    #[test]
    fn shard_syntax() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(bad.parse::<Shard>().unwrap_err().contains("I/N"), "{bad}");
        }
    }

    #[test]
    fn durations_come_from_a_report() {
        let d = durations_from_report(r#"{"scenarios":[{"name":"a","duration_ms":12},{"name":"b"}]}"#).unwrap();
        assert_eq!(d, BTreeMap::from([("a".to_string(), 12)]));
        assert!(durations_from_report("[]").unwrap_err().contains("report.json"));
    }
}
