//! `cleanroom gc`: clean up after runs that died without cleaning up (SIGKILL, a crash). It reads the run
//! journals, leaves runs whose process is alive alone, and for each dead run deletes exactly the objects
//! labelled `cleanroom.dev/run=<its id>` on the clusters it journalled, and the kind and kwok clusters it
//! created.
//! Nothing without that label is touched, so nothing cleanroom did not create.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject};

use super::journal::{self, Entry, RunJournal};
use crate::oracle::ObjectEntry;
use crate::providers::existing::client_for;
use crate::providers::process::{ProcessIdentity, ToolCall, reap, which};

const KIND_TIMEOUT: Duration = Duration::from_secs(300);
/// What a kwok component gets between SIGTERM and SIGKILL.
const KWOK_GRACE: Duration = Duration::from_secs(20);

/// What `gc` did (or, dry, would do).
#[derive(Debug, Default)]
pub struct GcOutcome {
    /// One line per object or cluster removed (or to remove), and per run left alone.
    pub lines: Vec<String>,
    /// Clusters that could not be reached or cleaned: their journals are kept for the next `gc`.
    pub problems: Vec<String>,
}

/// Collect the leftovers of every dead run journalled in `state_dir`.
pub async fn collect(state_dir: &Path, dry_run: bool) -> GcOutcome {
    let mut out = GcOutcome::default();
    for run in journal::read_all(state_dir) {
        if run.alive() {
            out.lines.push(format!("run {} (pid {}) is still running: left alone", run.run_id, run.pid));
            continue;
        }
        let before = out.problems.len();
        collect_run(&run, dry_run, &mut out).await;
        if !dry_run && out.problems.len() == before {
            let _ = std::fs::remove_file(&run.path);
        }
    }
    out
}

async fn collect_run(run: &RunJournal, dry_run: bool, out: &mut GcOutcome) {
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut targets = BTreeSet::new();
    // The last line for a kwok cluster is its whole record.
    let mut kwok: Vec<&Entry> = Vec::new();
    for e in &run.entries {
        match e {
            Entry::Objects { kubeconfig, context, .. } => {
                targets.insert((kubeconfig.clone(), context.clone()));
            }
            Entry::KindCluster { name, kubeconfig } => kind_cluster(run, name, kubeconfig, dry_run, verb, out).await,
            Entry::Container { name } => container(run, name, dry_run, verb, out).await,
            Entry::KwokCluster { name, .. } => {
                kwok.retain(|k| !matches!(k, Entry::KwokCluster { name: n, .. } if n == name));
                kwok.push(e);
            }
            Entry::Run { .. } => {}
        }
    }
    for e in kwok {
        if let Entry::KwokCluster { name, workdir, kwokctl, processes } = e {
            kwok_cluster(&run.run_id, name, workdir, kwokctl, processes, dry_run, out).await;
        }
    }
    for (kubeconfig, context) in targets {
        // A cluster this run created and gc just deleted has nothing left to sweep.
        let made_here = run.entries.iter().any(|e| match e {
            Entry::KindCluster { kubeconfig: k, .. } => *k == kubeconfig,
            Entry::KwokCluster { workdir, .. } => kubeconfig.starts_with(workdir),
            _ => false,
        });
        if made_here && !kubeconfig.exists() {
            continue;
        }
        // Nor has a container's cluster (the run's only one): its objects go with the container.
        if run.entries.iter().any(|e| matches!(e, Entry::Container { .. })) {
            continue;
        }
        if let Err(e) = sweep(run, &kubeconfig, context.as_deref(), dry_run, verb, out).await {
            out.problems.push(format!("run {}: cluster of {}: {e}; its journal is kept", run.run_id, kubeconfig.display()));
        }
    }
}

/// Delete the objects labelled with the run's id: namespaces last (their content goes with them).
async fn sweep(run: &RunJournal, kubeconfig: &Path, context: Option<&str>, dry_run: bool, verb: &str, out: &mut GcOutcome) -> Result<(), String> {
    let client = client_for(kubeconfig, context).await.map_err(|e| e.to_string())?;
    let inv = crate::oracle::snapshot(&client).await.map_err(|e| e.to_string())?;
    let mut mine: Vec<&ObjectEntry> = inv
        .objects
        .iter()
        .filter(|o| o.labels.get(crate::RUN_LABEL) == Some(&run.run_id) && o.deletion_timestamp.is_none())
        .collect();
    mine.sort_by_key(|o| o.kind == "Namespace");
    for o in mine {
        if !dry_run {
            let api_version = if o.group.is_empty() { o.version.clone() } else { format!("{}/{}", o.group, o.version) };
            let ar = ApiResource { group: o.group.clone(), version: o.version.clone(), api_version, kind: o.kind.clone(), plural: o.plural.clone() };
            let api: Api<DynamicObject> = match &o.namespace {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            match api.delete(&o.name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(format!("deleting {}: {e}", o.display())),
            }
        }
        out.lines.push(format!("run {}: {verb} {}", run.run_id, o.display()));
    }
    Ok(())
}

async fn kind_cluster(run: &RunJournal, name: &str, kubeconfig: &Path, dry_run: bool, verb: &str, out: &mut GcOutcome) {
    let Some(kind) = which("kind") else {
        out.problems.push(format!("run {}: kind cluster {name}: `kind` is not on PATH, cannot check it; its journal is kept", run.run_id));
        return;
    };
    let listed = match ToolCall::new(&kind, ["get", "clusters"]).run(Some(Duration::from_secs(30))).await {
        Ok(f) => f.stdout,
        Err(e) => return out.problems.push(format!("run {}: kind cluster {name}: {e}", run.run_id)),
    };
    if !listed.lines().any(|l| l.trim() == name) {
        return;
    }
    if !dry_run && let Err(e) = ToolCall::new(&kind, crate::providers::kind::delete_argv(name, kubeconfig)).run(Some(KIND_TIMEOUT)).await {
        return out.problems.push(format!("run {}: kind cluster {name}: {e}", run.run_id));
    }
    out.lines.push(format!("run {}: {verb} kind cluster {name}", run.run_id));
}

/// A container the run named: force-removed through the Docker API (`docker rm -f`); none is fine.
async fn container(run: &RunJournal, name: &str, dry_run: bool, verb: &str, out: &mut GcOutcome) {
    if dry_run {
        return out.lines.push(format!("run {}: {verb} container {name} (if it exists)", run.run_id));
    }
    match crate::providers::docker::remove(name).await {
        Ok(true) => out.lines.push(format!("run {}: {verb} container {name}", run.run_id)),
        Ok(false) => {}
        Err(e) => out.problems.push(format!("run {}: container {name}: {e}; its journal is kept", run.run_id)),
    }
}

/// A dead run's kwok cluster: stop the processes the journal recorded (only those still the recorded
/// ones: same pid, same start time), `kwokctl delete cluster`, then remove the run's directory.
async fn kwok_cluster(run_id: &str, name: &str, workdir: &Path, kwokctl: &Path, processes: &[ProcessIdentity], dry_run: bool, out: &mut GcOutcome) {
    let running: Vec<&ProcessIdentity> = processes.iter().filter(|p| p.is_running()).collect();
    if running.is_empty() && !workdir.exists() {
        return;
    }
    let pids: Vec<i32> = running.iter().map(|p| p.pid).collect();
    let what = format!("kwok cluster {name} ({} process(es) {pids:?}, {})", pids.len(), workdir.display());
    if dry_run {
        return out.lines.push(format!("run {run_id}: would delete {what}"));
    }
    for p in &running {
        // SAFETY: kill(2) on a pid just checked to be the recorded process.
        unsafe { libc::kill(p.pid, libc::SIGTERM) };
    }
    let killed = reap(&pids, KWOK_GRACE).await;
    let kwok_dir = workdir.join("kwok");
    // kwokctl signals the pids in its pid files: drop those that name some other process by now.
    forget_stale_pid_files(&kwok_dir.join("clusters").join(name).join("pids"), workdir);
    let kwokctl = if kwokctl.is_file() { Some(kwokctl.to_path_buf()) } else { which("kwokctl") };
    if let Some(bin) = kwokctl.filter(|_| kwok_dir.exists()) {
        let mut call = ToolCall::new(bin, crate::providers::kwok_setup::delete_argv(name, &workdir.join("kubeconfig")));
        call.env.push(("KWOK_WORKDIR".into(), kwok_dir.display().to_string()));
        if let Err(e) = call.run(Some(Duration::from_secs(120))).await {
            return out.problems.push(format!("run {run_id}: kwok cluster {name}: {e}; its journal is kept"));
        }
    }
    if let Err(e) = std::fs::remove_dir_all(workdir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return out.problems.push(format!("run {run_id}: kwok cluster {name}: removing {}: {e}; its journal is kept", workdir.display()));
    }
    let forced = if killed.is_empty() { String::new() } else { format!("; {killed:?} ignored SIGTERM and were killed") };
    out.lines.push(format!("run {run_id}: deleted {what}{forced}"));
}

/// Remove pid files whose process is gone or, by its command line (which names the cluster's files), not
/// a process of the cluster in `workdir`.
fn forget_stale_pid_files(dir: &Path, workdir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let cluster_dir = workdir.display().to_string();
    for e in rd.flatten() {
        let pid: Option<i32> = std::fs::read_to_string(e.path()).ok().and_then(|t| t.trim().parse().ok());
        let ours = pid.and_then(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok()).is_some_and(|c| String::from_utf8_lossy(&c).contains(&cluster_dir));
        if !ours {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
