//! The `helm` binary engine against a fake `helm` (a shell script recording its argv): the version is
//! asked once, and a helm below the minimum is refused before any action runs.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cleanroom_helm::{HelmCli, HelmEngine, HelmError, InstallRequest};

/// A fake helm printing `version` for `helm version` and `[]` for `helm list`; argv lines go to `argv`.
fn fake_helm(dir: &Path, version: &str) -> PathBuf {
    let bin = dir.join("helm");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {log}\ncase \"$1\" in\n  version) printf '%s' '{version}' ;;\n  list) echo '[]' ;;\n  *) echo 'Error: unknown flag' >&2; exit 1 ;;\nesac\n",
        log = dir.join("argv").display()
    );
    std::fs::write(&bin, script).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn argv_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("argv")).unwrap_or_default().lines().map(String::from).collect()
}

#[tokio::test]
async fn version_is_asked_once_and_sets_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let helm = HelmCli::default().with_binary(fake_helm(dir.path(), "v4.2.0"));
    helm.list(None).await.unwrap();
    helm.clone().list(Some("ns")).await.unwrap();
    let lines = argv_lines(dir.path());
    assert_eq!(lines.iter().filter(|l| l.starts_with("version")).count(), 1, "{lines:?}");
    assert_eq!(lines[0], "version --template {{.Version}}");
    assert!(lines[1].contains("--deployed --failed --pending --superseded --uninstalled --uninstalling"), "{lines:?}");
}

#[tokio::test]
async fn helm_below_3_8_is_refused_before_any_action() {
    let dir = tempfile::tempdir().unwrap();
    let helm = HelmCli::default().with_binary(fake_helm(dir.path(), "v3.7.2"));
    let req = InstallRequest::new("r", "ns", "./chart");
    let err = helm.install(&req).await.unwrap_err();
    assert!(matches!(err, HelmError::UnsupportedVersion { .. }), "{err}");
    assert!(err.is_environment());
    assert!(err.to_string().contains("helm v3.7.2 is not supported: cleanroom needs helm >= v3.8.0"), "{err}");
    assert!(argv_lines(dir.path()).iter().all(|l| l.starts_with("version")), "no install may run");
}
