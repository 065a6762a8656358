//! Fake executables for process-level tests: small shell scripts in a temp dir that record their argv
//! (one line per call, arguments separated by \x1f) and answer from canned files in the same dir.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Fakes {
    pub dir: tempfile::TempDir,
}

impl Fakes {
    pub fn new() -> Self {
        Fakes { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Install `name`: the script sees `$D` (this dir) and `$last` (its last argument).
    pub fn tool(&self, name: &str, body: &str) -> PathBuf {
        let bin = self.path().join(name);
        let script = format!(
            "#!/bin/sh\nD='{d}'\nfor a in \"$@\"; do printf '%s\\037' \"$a\"; done >> \"$D/{name}.argv\"\nprintf '\\n' >> \"$D/{name}.argv\"\nfor last; do :; done\n{body}\n",
            d = self.path().display()
        );
        std::fs::write(&bin, script).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    /// Every call of `name`, as argv vectors.
    pub fn calls(&self, name: &str) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.path().join(format!("{name}.argv")))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('\u{1f}').filter(|a| !a.is_empty()).map(String::from).collect())
            .collect()
    }

    /// Calls of `name` joined with spaces (for `contains` checks).
    pub fn call_lines(&self, name: &str) -> Vec<String> {
        self.calls(name).into_iter().map(|c| c.join(" ")).collect()
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path().join(file), text).unwrap();
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path().join(file)).unwrap_or_default()
    }

    /// PATH with the fakes first.
    pub fn path_env(&self) -> OsString {
        let mut paths = vec![self.path().to_path_buf()];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        std::env::join_paths(paths).unwrap()
    }

    /// A named pipe in the fakes dir: a fake writes to it, the test blocks reading it.
    pub fn fifo(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        assert!(std::process::Command::new("mkfifo").arg(&p).status().unwrap().success());
        p
    }
}

/// Start reading one message from a FIFO now, on a plain thread (so a writer never waits for the
/// reader, and a reader that never gets a writer does not hold the runtime's shutdown); the future yields
/// it, bounded by `limit`.
pub fn read_fifo(path: &Path, limit: Duration) -> impl std::future::Future<Output = String> + use<> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let p = path.to_path_buf();
    let what = format!("nothing written to {} within {limit:?}", path.display());
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::read_to_string(p).unwrap_or_default());
    });
    async move { tokio::time::timeout(limit, rx).await.unwrap_or_else(|_| panic!("{what}")).unwrap() }
}

/// A fake `docker`: `-v` and `info` answer (unless `$D/docker-down` exists); `exec` runs the body for
/// the in-node script `$last` (default answers: empty listings, no images, healthz ok).
pub fn docker_body(exec_cases: &str) -> String {
    format!(
        r#"case "$1" in
  -v) echo "Docker version 27.3.1, build fake" ;;
  info) if [ -f "$D/docker-down" ]; then echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1; fi ;;
  exec)
    case "$last" in
{exec_cases}
      *"crictl images -o json"*) cat "$D/images.json" 2>/dev/null || echo '{{"images":[]}}' ;;
      *"crictl ps -a -o json"*) cat "$D/containers.json" 2>/dev/null || echo '{{"containers":[]}}' ;;
      *"cat /proc/mounts"*) if [ -f "$D/unmounted" ]; then grep -v -F -f "$D/unmounted" "$D/mounts"; else cat "$D/mounts"; fi 2>/dev/null; true ;;
      *"ls -1 '/var/lib/kubelet/pods'"*) cat "$D/kubelet-pods" 2>/dev/null; true ;;
      *) true ;;
    esac ;;
esac"#
    )
}
