//! The differential fidelity tier's arithmetic: the same scenarios (or kubectl commands) run on two
//! providers — the embedded cluster and a real control plane (kwok) — compared after normalising what
//! legitimately differs between any two runs (run ids, cluster names, uids, timestamps, resource
//! versions, IPs, generated name suffixes, ages, column widths). Steps one provider skips because it
//! declares it lacks a capability (node filesystems) are excused, not compared.

use std::collections::BTreeSet;

use regex::Regex;

use super::RunReport;
use crate::runner::{Outcome, StepResult};

/// Identical / compared, and what differed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fidelity {
    pub compared: usize,
    pub identical: usize,
    /// Compared on neither side: skipped on one for a capability it lacks.
    pub excused: usize,
    pub differences: Vec<String>,
}

impl Fidelity {
    pub fn line(&self, what: &str) -> String {
        format!("{what}: {} identical / {} compared ({} excused)", self.identical, self.compared, self.excused)
    }
    fn record(&mut self, same: bool, diff: impl FnOnce() -> String) {
        self.compared += 1;
        if same {
            self.identical += 1;
        } else {
            self.differences.push(diff());
        }
    }
}

/// Rewrites of one run's text into provider-neutral text.
pub struct Normaliser {
    names: Vec<(String, &'static str)>,
    rules: Vec<(Regex, &'static str)>,
}

impl Normaliser {
    /// `run_ids` and `clusters` (longest first) become `<run>` and `<cluster>`.
    pub fn new(run_ids: &[&str], clusters: &[&str]) -> Self {
        let mut names: Vec<(String, &'static str)> = clusters.iter().map(|c| (c.to_string(), "<cluster>")).collect();
        names.extend(run_ids.iter().map(|r| (r.to_string(), "<run>")));
        names.retain(|(n, _)| !n.is_empty());
        names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        let rule = |re: &str, to: &'static str| (Regex::new(re).expect("normaliser regex"), to);
        let rules = vec![
            rule(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uid>"),
            rule(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", "<time>"),
            rule(r#"(resourceVersion|generation|observedGeneration)"?:\s*"?\d+"?"#, "$1: <n>"),
            rule(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(/\d+)?\b", "<ip>"),
            // ReplicaSet pod-template hashes and generated names (`web-5d4f8c7b9-x7k2p`, `job-abcde`). A
            // hash is a uint32's decimal digits, one letter each: usually 9 or 10, sometimes fewer (`c4f9586`).
            rule(r"-[bcdfghjklmnpqrstvwxz2-9]{6,10}\b", "-<hash>"),
            rule(r"-[bcdfghjklmnpqrstvwxz2-9]{5}\b", "-<sfx>"),
            // kubectl's AGE column and durations: `5s`, `2m3s`, `<invalid>`.
            rule(r"\b(\d+[smhd])+\b|<invalid>", "<age>"),
            rule(r"[ \t]+", " "),
        ];
        Normaliser { names, rules }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, to) in &self.names {
            out = out.replace(name.as_str(), to);
        }
        for (re, to) in &self.rules {
            out = re.replace_all(&out, *to).into_owned();
        }
        // Progress lines of waiting commands (`kubectl rollout status`) depend on timing, not on answers.
        out.lines().map(str::trim_end).filter(|l| !l.starts_with("Waiting for ")).collect::<Vec<_>>().join("\n").trim().to_string()
    }
}

/// A step's outcome as compared: `passed`, `failed`, `skipped` (the reason is not compared, except
/// for oracle steps whose leftover lines are).
fn outcome(s: &StepResult) -> &'static str {
    match s.outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Skipped => "skipped",
    }
}

/// Skipped because the provider declares it lacks node filesystems.
fn excused(s: &StepResult) -> bool {
    s.outcome == Outcome::Skipped && s.reason.as_deref().is_some_and(|r| r.contains("is not available on provider"))
}

/// The `  - Kind ns/name: reason` lines of an oracle step's text, as a set.
fn leftover_lines(s: &StepResult, n: &Normaliser) -> BTreeSet<String> {
    let text = [s.reason.as_deref(), s.detail.as_deref()].into_iter().flatten().collect::<Vec<_>>().join("\n");
    n.apply(&text).lines().filter(|l| l.trim_start().starts_with("- ")).map(|l| l.trim().to_string()).collect()
}

/// Compare two runs of the same scenarios: every step's outcome, and every oracle step's leftovers
/// with their reasons (plus each scenario's recorded leftovers).
pub fn compare_runs(a: &RunReport, b: &RunReport, n: &Normaliser) -> (Fidelity, Fidelity) {
    let (mut steps, mut oracle) = (Fidelity::default(), Fidelity::default());
    for sa in &a.scenarios {
        let Some(sb) = b.scenarios.iter().find(|s| s.name == sa.name) else { continue };
        let len = sa.steps.len().max(sb.steps.len());
        for i in 0..len {
            let (x, y) = (sa.steps.get(i), sb.steps.get(i));
            let (Some(x), Some(y)) = (x, y) else {
                let which = x.or(y).map(|s| s.name.clone()).unwrap_or_default();
                steps.record(false, || format!("{}: step {} `{which}` ran on one provider only", sa.name, i + 1));
                continue;
            };
            if excused(x) || excused(y) {
                steps.excused += 1;
                continue;
            }
            let same_step = x.primitive == y.primitive && x.section == y.section;
            steps.record(same_step && outcome(x) == outcome(y), || {
                let why = |s: &StepResult| s.reason.clone().unwrap_or_default().chars().take(240).collect::<String>();
                format!(
                    "{}: step {} `{}`: {} on {} ({}), {} on {} ({})",
                    sa.name, i + 1, x.name, outcome(x), a.provider, why(x), outcome(y), b.provider, why(y)
                )
            });
            if same_step && x.primitive.starts_with("oracle.") {
                let (lx, ly) = (leftover_lines(x, n), leftover_lines(y, n));
                oracle.record(lx == ly, || {
                    let only = |p: &BTreeSet<String>, q: &BTreeSet<String>| p.difference(q).cloned().collect::<Vec<_>>().join("; ");
                    format!(
                        "{}: step {} `{}` leftovers: only on {}: [{}]; only on {}: [{}]",
                        sa.name, i + 1, x.name, a.provider, only(&lx, &ly), b.provider, only(&ly, &lx)
                    )
                });
            }
        }
        let set = |r: &crate::runner::ScenarioResult| -> BTreeSet<String> {
            r.leftovers.iter().map(|l| n.apply(&format!("{} {}/{}: {}", l.kind, l.namespace.as_deref().unwrap_or(""), l.name, l.reason))).collect()
        };
        let (lx, ly) = (set(sa), set(sb));
        oracle.record(lx == ly, || format!("{}: recorded leftovers differ: {lx:?} vs {ly:?}", sa.name));
    }
    (steps, oracle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_what_differs_between_runs() {
        let n = Normaliser::new(&["20261130-0640-ab12"], &["cleanroom-20261130-0640-ab12"]);
        let t = "pod/web-5d4f8c7b9-x7k2p   1/1  Running  0  5s  10.244.1.3  cleanroom-20261130-0640-ab12-worker\n\
                 uid: 0f8fad5b-d9cb-469f-a165-70867728950e resourceVersion: \"4711\" ns smoke-20261130-0640-ab12 \
                 at 2026-11-30T06:40:00Z";
        assert_eq!(
            n.apply(t),
            "pod/web-<hash>-<sfx> 1/1 Running 0 <age> <ip> <cluster>-worker\nuid: <uid> resourceVersion: <n> ns smoke-<run> at <time>"
        );
        assert_eq!(n.apply("Waiting for deployment \"web\" rollout to finish: 1 of 2\ndeployment \"web\" successfully rolled out"), "deployment \"web\" successfully rolled out");
        // A short pod-template hash (a small uint32) is a hash too.
        assert_eq!(n.apply("pod/web-c4f9586-x7k2p"), "pod/web-<hash>-<sfx>");
        // Words that merely look alike are kept.
        assert_eq!(n.apply("deployment.apps/web condition met"), "deployment.apps/web condition met");
    }
}
