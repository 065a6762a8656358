//! Leftovers of runs that are not running, found at the start of a run on a cluster cleanroom did not
//! create: objects labelled `cleanroom.dev/run=<id>` of a run whose journal says its process is gone, or of
//! a run no journal of a live run on this machine names. `cleanroom run` warns, naming each run and how to
//! remove what it left (`cleanroom gc` for journalled runs); it never deletes anything itself.

use std::collections::BTreeMap;
use std::path::Path;

use super::journal::{self, RunJournal};
use crate::oracle::Inventory;

/// A run whose objects are on the cluster although it is not running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleRun {
    pub run_id: String,
    /// Up to three of its objects, for the message.
    pub examples: Vec<String>,
    pub objects: usize,
    /// The pid its journal names (gone); None: no journal on this machine names the run.
    pub dead_pid: Option<u32>,
}

/// The runs labelled on `inv` that are neither `own` nor alive according to `journals`.
pub fn stale_runs(inv: &Inventory, journals: &[RunJournal], own: &str) -> Vec<StaleRun> {
    let mut by_run: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for o in inv.objects.iter().filter(|o| o.deletion_timestamp.is_none()) {
        if let Some(id) = o.labels.get(crate::RUN_LABEL) {
            by_run.entry(id.as_str()).or_default().push(o.display());
        }
    }
    let mut out = Vec::new();
    for (id, objects) in by_run {
        let journal = journals.iter().find(|j| j.run_id == id);
        if id == own || journal.is_some_and(RunJournal::alive) {
            continue;
        }
        out.push(StaleRun {
            run_id: id.to_string(),
            examples: objects.iter().take(3).cloned().collect(),
            objects: objects.len(),
            dead_pid: journal.map(|j| j.pid),
        });
    }
    out
}

/// The warning for `stale` (None when there is nothing to say).
pub fn warning(stale: &[StaleRun]) -> Option<String> {
    if stale.is_empty() {
        return None;
    }
    let mut text = format!("warning: this cluster holds leftovers of {} run(s) that are not running:", stale.len());
    for s in stale {
        let more = if s.objects > s.examples.len() { ", …" } else { "" };
        let how = match s.dead_pid {
            Some(pid) => format!("its process (pid {pid}) is gone: `cleanroom gc` removes them"),
            None => format!(
                "no journal of a live run on this machine names it: if no run elsewhere uses it, delete them with `kubectl delete <kind> -A -l {}={}` (`cleanroom gc` only collects journalled runs)",
                crate::RUN_LABEL,
                s.run_id
            ),
        };
        text.push_str(&format!("\n  - run {}: {} object(s) ({}{more}); {how}", s.run_id, s.objects, s.examples.join(", ")));
    }
    Some(text)
}

/// Look at the cluster for leftovers of runs that are not running (errors: nothing to say).
pub async fn check(client: &kube::Client, state_dir: &Path, own: &str) -> Option<String> {
    let inv = crate::oracle::snapshot(client).await.ok()?;
    warning(&stale_runs(&inv, &journal::read_all(state_dir), own))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::ObjectEntry;

    fn labelled(name: &str, run: &str) -> ObjectEntry {
        let labels = [(crate::RUN_LABEL.to_string(), run.to_string())].into();
        ObjectEntry { kind: "ConfigMap".into(), version: "v1".into(), namespace: Some("default".into()), name: name.into(), labels, ..Default::default() }
    }

    #[test]
    fn names_dead_and_unknown_runs_but_not_live_ones() {
        let dead_pid = {
            let mut c = std::process::Command::new("true").spawn().unwrap();
            let pid = c.id();
            c.wait().unwrap();
            pid
        };
        let journal = |run_id: &str, pid: u32| RunJournal { path: "/x".into(), run_id: run_id.into(), pid, started_at: String::new(), entries: Vec::new() };
        let journals = [journal("dead", dead_pid), journal("live", std::process::id())];
        let inv = Inventory {
            objects: vec![labelled("a", "dead"), labelled("b", "dead"), labelled("c", "live"), labelled("d", "me"), labelled("e", "stranger")],
            ..Default::default()
        };
        let stale = stale_runs(&inv, &journals, "me");
        let ids: Vec<(&str, usize, Option<u32>)> = stale.iter().map(|s| (s.run_id.as_str(), s.objects, s.dead_pid)).collect();
        assert_eq!(ids, [("dead", 2, Some(dead_pid)), ("stranger", 1, None)]);
        let text = warning(&stale).unwrap();
        assert!(text.contains(&format!("run dead: 2 object(s) (ConfigMap default/a, ConfigMap default/b); its process (pid {dead_pid}) is gone: `cleanroom gc` removes them")), "{text}");
        assert!(text.contains("run stranger: 1 object(s) (ConfigMap default/e); no journal"), "{text}");
        assert_eq!(warning(&[]), None);
    }
}
