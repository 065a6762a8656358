//! Where a report came from: which cleanroom, which clusters, which scenario files (by hash), which tools.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Provenance {
    pub cleanroom_version: String,
    /// The commit cleanroom was built from (`CLEANROOM_GIT_COMMIT` at build time), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    pub provider: String,
    /// `--sim-timing` on the embedded cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim_timing: Option<String>,
    /// How Helm steps reach the cluster.
    pub helm_engine: String,
    /// Each scenario's cluster.
    #[serde(default)]
    pub clusters: Vec<ClusterIdentity>,
    /// Scenario file → sha256 of its content.
    #[serde(default)]
    pub scenario_files: BTreeMap<String, String>,
    /// Tool → first line of its version output (tools not on PATH are absent).
    #[serde(default)]
    pub tools: BTreeMap<String, String>,
    pub started_at: String,
    pub ended_at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterIdentity {
    pub scenario: String,
    /// "embedded cluster cleanroom at http://…", "kind cluster …", "existing cluster (kubeconfig …)".
    pub description: String,
    /// The API server the kubeconfig points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// uid of namespace `kube-system`: tells two clusters behind one address apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_system_uid: Option<String>,
}

/// sha256 of a file, hex; None when it cannot be read.
pub fn file_sha256(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// `kubectl version --client` and `helm version --short`: the first line of each that is on PATH and
/// answers within a few seconds. (kind and its engine are checked, with their versions, by the provider.)
pub async fn tool_versions() -> BTreeMap<String, String> {
    let tools: [(&str, &[&str]); 2] = [("kubectl", &["version", "--client"]), ("helm", &["version", "--short"])];
    let mut out = BTreeMap::new();
    for (tool, args) in tools {
        let Some(bin) = crate::providers::process::which(tool) else { continue };
        let call = crate::providers::process::ToolCall::new(bin, args.iter().copied());
        if let Ok(f) = call.run(Some(Duration::from_secs(5))).await
            && let Some(line) = f.stdout.lines().find(|l| !l.trim().is_empty())
        {
            out.insert(tool.to_string(), line.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, "abc").unwrap();
        assert_eq!(super::file_sha256(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(super::file_sha256(&dir.path().join("none")), None);
    }
}
