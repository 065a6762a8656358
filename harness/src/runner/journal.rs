//! The run journal: what a run is about to create, written (and synced) *before* it creates it, so a run
//! that dies without cleaning up (SIGKILL, a power cut) can be found and cleaned by `cleanroom gc`. One
//! JSON-lines file per run in `<state dir>/runs/<run-id>.jsonl`; a run that ends removes its journal (what
//! it kept is then the user's).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::providers::ExternalCluster;
use crate::providers::process::ProcessIdentity;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "entry")]
pub enum Entry {
    /// The first line: which process owns the run.
    Run { run_id: String, pid: u32, started_at: String, provider: String },
    /// Objects labelled `cleanroom.dev/run=<run id>` are about to be created on this cluster.
    Objects { kubeconfig: PathBuf, context: Option<String> },
    /// A kind cluster cleanroom names is about to be created.
    KindCluster { name: String, kubeconfig: PathBuf },
    /// A Docker container (k3s, kwok's container runtime) is about to be created under this name.
    Container { name: String },
    /// A kwok cluster is about to be created in `workdir` (written again as its processes start; the last
    /// line for a name is the whole record).
    KwokCluster { name: String, workdir: PathBuf, kwokctl: PathBuf, processes: Vec<ProcessIdentity> },
}

impl From<&ExternalCluster> for Entry {
    fn from(c: &ExternalCluster) -> Entry {
        Entry::KwokCluster { name: c.name.clone(), workdir: c.workdir.clone(), kwokctl: c.kwokctl.clone(), processes: c.processes.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("run journal {path}: {source}")]
pub struct JournalError {
    pub path: String,
    pub source: std::io::Error,
}

/// `CLEANROOM_STATE_DIR`, else `$XDG_STATE_HOME/cleanroom`, else `~/.local/state/cleanroom`.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CLEANROOM_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("cleanroom");
    }
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir).join(".local/state/cleanroom")
}

/// This run's journal (append-only).
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// Start the journal of `run_id`, owned by this process.
    pub fn create(dir: &Path, run_id: &str, provider: &str) -> Result<Journal, JournalError> {
        let path = dir.join("runs").join(format!("{run_id}.jsonl"));
        let err = |source| JournalError { path: path.display().to_string(), source };
        std::fs::create_dir_all(path.parent().expect("runs dir")).map_err(err)?;
        let j = Journal { path: path.clone() };
        let started_at = chrono::Utc::now().to_rfc3339();
        j.record(&Entry::Run { run_id: run_id.into(), pid: std::process::id(), started_at, provider: provider.into() })?;
        Ok(j)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `entry` and sync it to disk before returning: the caller creates what it names next.
    pub fn record(&self, entry: &Entry) -> Result<(), JournalError> {
        let err = |source| JournalError { path: self.path.display().to_string(), source };
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(err)?;
        let line = serde_json::to_string(entry).expect("journal entry serializes");
        writeln!(f, "{line}").map_err(err)?;
        f.sync_data().map_err(err)
    }

    /// The run ended and cleaned up (or handed what it kept to the user): nothing left to find.
    pub fn close(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A journal read back.
#[derive(Debug, Clone)]
pub struct RunJournal {
    pub path: PathBuf,
    pub run_id: String,
    pub pid: u32,
    pub started_at: String,
    pub entries: Vec<Entry>,
}

impl RunJournal {
    /// Whether the run's process still lives (then nothing of it may be collected).
    pub fn alive(&self) -> bool {
        pid_alive(self.pid)
    }
}

/// `kill(pid, 0)`: the process exists (EPERM: it exists, owned by someone else).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Every journal in `dir`, oldest run first. Unreadable lines end a journal's entries (a run killed
/// mid-write leaves at most its last line torn).
pub fn read_all(dir: &Path) -> Vec<RunJournal> {
    let Ok(rd) = std::fs::read_dir(dir.join("runs")) else { return Vec::new() };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("jsonl") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let entries: Vec<Entry> = text.lines().map_while(|l| serde_json::from_str(l).ok()).collect();
        let Some(Entry::Run { run_id, pid, started_at, .. }) = entries.first().cloned() else { continue };
        out.push(RunJournal { path, run_id, pid, started_at, entries });
    }
    out.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_and_a_closed_journal_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), "r1", "kind").unwrap();
        let kc = PathBuf::from("/tmp/k");
        j.record(&Entry::KindCluster { name: "cleanroom-r1".into(), kubeconfig: kc.clone() }).unwrap();
        j.record(&Entry::Objects { kubeconfig: kc.clone(), context: None }).unwrap();
        // A torn last line (killed mid-write) does not hide the rest.
        std::fs::OpenOptions::new().append(true).open(j.path()).unwrap().write_all(b"{\"entry\":\"obj").unwrap();
        let all = read_all(dir.path());
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].run_id.as_str(), all[0].pid), ("r1", std::process::id()));
        assert!(all[0].alive(), "this process is alive");
        assert_eq!(all[0].entries.len(), 3);
        assert_eq!(all[0].entries[1], Entry::KindCluster { name: "cleanroom-r1".into(), kubeconfig: kc });
        j.close();
        assert!(read_all(dir.path()).is_empty());
    }

    #[test]
    fn a_container_entry_is_one_line_with_its_name() {
        let e = Entry::Container { name: "cleanroom-r1".into() };
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"entry":"container","name":"cleanroom-r1"}"#);
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), "r1", "k3s").unwrap();
        j.record(&e).unwrap();
        assert_eq!(read_all(dir.path())[0].entries[1], e);
    }

    #[test]
    fn a_dead_pid_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }
}
