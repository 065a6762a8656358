//! Child processes of the providers (`kind`, and `docker`/`podman`/`nerdctl` for node operations).
//!
//! Each child runs in its own process group. A Ctrl-C on the terminal therefore reaches cleanroom only,
//! which decides what happens (kind has no signal handler: a SIGINT in the middle of `kind create
//! cluster` would leave half a cluster that nothing deletes). When the future running a child is
//! dropped — a step timeout, a cancelled step, an interrupted `ensure` — the whole group gets SIGTERM
//! and, [`KILL_GRACE`] later, SIGKILL, so `docker exec` clients and their children never outlive it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Between SIGTERM and SIGKILL for a dropped child's process group.
pub const KILL_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("`{command}` could not start: {source}")]
    Spawn { command: String, source: std::io::Error },
    #[error("`{command}` did not finish within {}s", after.as_secs())]
    TimedOut { command: String, after: Duration },
    #[error("`{command}` exited with {code}: {stderr}")]
    Failed { command: String, code: String, stderr: String },
}

impl ProcessError {
    /// The binary was not found (so it is an environment problem, not a failed command).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProcessError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// What a finished child printed.
#[derive(Debug, Clone)]
pub struct Finished {
    pub stdout: String,
    pub stderr: String,
}

/// One invocation of a tool: its binary and argv (never logged with values: argv may name files only).
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub binary: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl ToolCall {
    pub fn new(binary: impl AsRef<Path>, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        ToolCall { binary: binary.as_ref().to_path_buf(), args: args.into_iter().map(Into::into).collect(), env: Vec::new() }
    }

    /// `kind create cluster --name x` (for messages).
    pub fn display(&self) -> String {
        let bin = self.binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        std::iter::once(bin).chain(self.args.iter().cloned()).collect::<Vec<_>>().join(" ")
    }

    /// Run to completion in its own process group; `Err` on a non-zero exit, with stderr.
    pub async fn run(&self, timeout: Option<Duration>) -> Result<Finished, ProcessError> {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            // The group guard below ends the child and its descendants; a bare SIGKILL of the leader
            // would orphan them.
            .kill_on_drop(false);
        let child = cmd.spawn().map_err(|source| ProcessError::Spawn { command: self.display(), source })?;
        let guard = GroupGuard { pgid: child.id().map(|p| p as i32) };
        // The output is read by a task of its own, which outlives this future: a child ended by the
        // guard's SIGTERM that still writes (kind on its way out, a shell reporting a killed child) must
        // not die of SIGPIPE on pipes nobody reads before it could clean up.
        let output = tokio::spawn(child.wait_with_output());
        let waited = match timeout {
            Some(t) => tokio::time::timeout(t, output).await.map_err(|_| ProcessError::TimedOut { command: self.display(), after: t })?,
            None => output.await,
        };
        guard.disarm();
        let out = waited
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|source| ProcessError::Spawn { command: self.display(), source })?;
        let finished = Finished {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        };
        if out.status.success() {
            Ok(finished)
        } else {
            let code = out.status.code().map(|c| format!("exit code {c}")).unwrap_or_else(|| "a signal".into());
            Err(ProcessError::Failed { command: self.display(), code, stderr: finished.stderr })
        }
    }
}

/// A long-running child (a controller the provider runs next to its cluster) in its own process group,
/// its output appended to a log file. `stop` ends the group; dropping it does too, unless `detach`ed
/// (`--keep`: the cluster and this process outlive cleanroom).
pub struct Background {
    child: Option<tokio::process::Child>,
    pub command: String,
}

impl Background {
    pub fn start(call: &ToolCall, log: &Path) -> Result<Background, ProcessError> {
        let command = call.display();
        let spawn_err = |source| ProcessError::Spawn { command: command.clone(), source };
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(spawn_err)?;
        let err = out.try_clone().map_err(spawn_err)?;
        let child = tokio::process::Command::new(&call.binary)
            .args(&call.args)
            .envs(call.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .map_err(spawn_err)?;
        Ok(Background { child: Some(child), command })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Whether it exited already (and how).
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        Some(status.to_string())
    }

    /// SIGTERM to the group, SIGKILL after [`KILL_GRACE`], and reap it.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else { return };
        let Some(pgid) = child.id().map(|p| p as i32) else { return };
        signal_group(pgid, libc::SIGTERM);
        if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
            signal_group(pgid, libc::SIGKILL);
            let _ = child.wait().await;
        }
    }

    /// Leave it running after cleanroom exits; returns its pid.
    pub fn detach(mut self) -> Option<u32> {
        self.child.take().and_then(|c| c.id())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(pgid) = self.child.as_ref().and_then(|c| c.id()) {
            signal_group(pgid as i32, libc::SIGKILL);
        }
    }
}

/// Ends a child's process group when dropped before the child finished.
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn disarm(mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Some(pgid) = self.pgid.filter(|p| *p > 0) else { return };
        signal_group(pgid, libc::SIGTERM);
        // Escalate without blocking the runtime; ESRCH once the group is gone is harmless.
        std::thread::spawn(move || {
            std::thread::sleep(KILL_GRACE);
            signal_group(pgid, libc::SIGKILL);
        });
    }
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: killpg has no memory-safety preconditions; pgid > 0 names only our own child's group.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// A process as recorded in a run journal: its pid and when it started (clock ticks since boot, field 22
/// of `/proc/<pid>/stat`), so a pid the kernel has since given to another process is never taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessIdentity {
    /// The running process `pid` (None: no such process, or it already exited).
    pub fn of(pid: i32) -> Option<ProcessIdentity> {
        start_time(pid).map(|start_time| ProcessIdentity { pid, start_time })
    }

    /// Still running, and still the process that was recorded.
    pub fn is_running(&self) -> bool {
        start_time(self.pid) == Some(self.start_time)
    }
}

/// Start time of a live process; None for no process or a zombie (it has exited).
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after its last ')'.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The first `name` on PATH.
/// Wait until every process in `pids` (not our children: e.g. what `kwokctl` started) has exited,
/// watching each through a pidfd rather than polling; SIGKILL those still alive after `grace`.
/// Returns the pids that had to be killed.
pub async fn reap(pids: &[i32], grace: std::time::Duration) -> Vec<i32> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let waits = pids.iter().map(|&pid| async move {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None; // already gone (ESRCH)
        }
        // SAFETY: `fd` is a descriptor the kernel just gave us; OwnedFd closes it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the AsyncFd owns `fd`, which stays open and the same until it is dropped.
        let Ok(afd) = (unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }) else { return Some(pid) };
        // A pidfd turns readable when its process exits.
        match tokio::time::timeout(grace, afd.readable()).await {
            Ok(_) => None,
            Err(_) => {
                // SAFETY: signalling a pid we hold a pidfd for (it cannot have been reused).
                unsafe { libc::syscall(libc::SYS_pidfd_send_signal, afd.as_raw_fd(), libc::SIGKILL, std::ptr::null::<libc::siginfo_t>(), 0) };
                let _ = tokio::time::timeout(grace, afd.readable()).await;
                Some(pid)
            }
        }
    });
    futures::future::join_all(waits).await.into_iter().flatten().collect()
}

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(tool)).find(|p| p.is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_identity_holds_until_it_exits_and_a_reused_pid_is_not_it() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let id = ProcessIdentity::of(child.id() as i32).expect("a running process");
        assert!(id.is_running());
        assert!(!ProcessIdentity { start_time: id.start_time + 1, ..id }.is_running(), "another start time: another process");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!id.is_running());
        assert_eq!(ProcessIdentity::of(child.id() as i32), None);
    }

    #[tokio::test]
    async fn reap_waits_for_exits_and_kills_what_outlives_the_grace() {
        let mut quick = std::process::Command::new("true").spawn().unwrap();
        let mut slow = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let killed = reap(&[quick.id() as i32, slow.id() as i32], std::time::Duration::from_millis(300)).await;
        assert_eq!(killed, vec![slow.id() as i32], "only the process still running after the grace is killed");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(slow.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(quick.wait().unwrap().success());
    }

    fn fifo(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        p
    }

    /// Start reading a FIFO now, on a plain thread (opened before anything writes, so a writer never
    /// waits for the reader); the returned future yields what was written.
    fn read_fifo(p: PathBuf) -> impl std::future::Future<Output = String> {
        let what = format!("{p:?} was written");
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || tx.send(std::fs::read_to_string(p).unwrap_or_default()));
        async move { tokio::time::timeout(Duration::from_secs(30), rx).await.expect(&what).unwrap() }
    }

    #[tokio::test]
    async fn dropped_child_group_is_terminated() {
        let dir = tempfile::tempdir().unwrap();
        let (started, signals) = (fifo(dir.path(), "started"), fifo(dir.path(), "signals"));
        // The child reports that its trap is set, then blocks; the trap reports SIGTERM.
        let script = format!(
            "trap 'echo TERM > {s}; exit 143' TERM; echo up > {u}; while :; do sleep 1 & wait $!; done",
            s = signals.display(),
            u = started.display()
        );
        let call = ToolCall::new("sh", ["-c", script.as_str()]);
        let term = read_fifo(signals);
        tokio::select! {
            r = call.run(None) => panic!("the child blocks: {r:?}"),
            up = read_fifo(started) => assert_eq!(up.trim(), "up"),
        }
        // The run future is dropped here, as at a step timeout.
        assert_eq!(term.await.trim(), "TERM");
    }

    #[tokio::test]
    async fn a_timeout_is_reported_as_such() {
        let r = ToolCall::new("sleep", ["5"]).run(Some(Duration::from_millis(100))).await;
        assert!(matches!(r, Err(ProcessError::TimedOut { .. })), "{r:?}");
    }

    #[tokio::test]
    async fn failures_carry_stderr() {
        let e = ToolCall::new("sh", ["-c", "echo boom >&2; exit 3"]).run(None).await.unwrap_err();
        assert_eq!(e.to_string(), "`sh -c echo boom >&2; exit 3` exited with exit code 3: boom");
        let e = ToolCall::new("/nonexistent/kind", ["version"]).run(None).await.unwrap_err();
        assert!(e.is_not_found(), "{e}");
    }
}
