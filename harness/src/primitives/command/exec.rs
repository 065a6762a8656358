//! Running one command in its own process group: output streamed to files, a deadline after which the
//! whole group gets SIGTERM then SIGKILL, and a guard that does the same when the step is dropped
//! (the runner's interrupt), so no process outlives its step.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::capture::{Captured, capture};
use crate::primitives::StepError;

/// Time between SIGTERM and SIGKILL for the process group.
pub const GRACE: Duration = Duration::from_secs(2);

pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

pub struct Finished {
    /// Exit code; None when killed by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// Where `program` would run from, or None. Checked up front so a missing binary is named clearly.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| is_exec(p))
}

/// Signals the group on drop unless disarmed: SIGTERM now, SIGKILL after [`GRACE`] (from a thread,
/// since drop cannot wait).
struct GroupGuard {
    pgid: i32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pgid, libc::SIGTERM);
            let pgid = self.pgid;
            std::thread::spawn(move || {
                std::thread::sleep(GRACE);
                signal_group(pgid, libc::SIGKILL);
            });
        }
    }
}

/// `kill(-pgid, sig)`; false when no process of the group is left.
fn signal_group(pgid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
    unsafe { libc::kill(-pgid, sig) == 0 }
}

/// Run `inv` to completion or `timeout`, writing `<stem>.stdout` and `<stem>.stderr` into `dir`.
pub async fn run(inv: &Invocation, dir: &Path, stem: &str, timeout: Duration) -> Result<Finished, StepError> {
    if find_program(&inv.program).is_none() {
        return Err(StepError::Failed(format!("`{}` not found on PATH", inv.program)));
    }
    std::fs::create_dir_all(dir).map_err(|e| StepError::Failed(format!("creating {}: {e}", dir.display())))?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&inv.program)
        .args(&inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&inv.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| StepError::Failed(format!("starting `{}`: {e}", inv.program)))?;
    let pgid = child.id().ok_or_else(|| StepError::Failed(format!("`{}` exited before it could be watched", inv.program)))? as i32;
    let mut guard = GroupGuard { pgid, armed: true };
    let out = tokio::spawn(capture(child.stdout.take().expect("piped"), dir.join(format!("{stem}.stdout"))));
    let err = tokio::spawn(capture(child.stderr.take().expect("piped"), dir.join(format!("{stem}.stderr"))));
    let mut outputs = Box::pin(async { (out.await, err.await) });

    let status = tokio::select! {
        s = child.wait() => Some(s.map_err(|e| StepError::Failed(format!("waiting for `{}`: {e}", inv.program)))?),
        _ = tokio::time::sleep(timeout) => None,
    };
    let timed_out = status.is_none();
    // What is left of the group (everything on a timeout; background jobs otherwise) gets SIGTERM; once
    // the pipes close or the grace ends, SIGKILL catches anything that ignored it.
    signal_group(pgid, libc::SIGTERM);
    let drained = tokio::time::timeout(GRACE, async {
        let _ = child.wait().await;
        (&mut outputs).await
    })
    .await;
    let (out, err) = match drained {
        Ok(v) => {
            signal_group(pgid, libc::SIGKILL);
            v
        }
        Err(_) => {
            signal_group(pgid, libc::SIGKILL);
            outputs.await
        }
    };
    let status = child.wait().await.map_err(|e| StepError::Failed(format!("waiting for `{}`: {e}", inv.program)))?;
    guard.armed = false;
    let io = |what: &str, r: Result<std::io::Result<Captured>, tokio::task::JoinError>| -> Result<Captured, StepError> {
        match r {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(StepError::Failed(format!("capturing {what} of `{}`: {e}", inv.program))),
            Err(e) => Err(StepError::Failed(format!("capturing {what} of `{}`: {e}", inv.program))),
        }
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(Finished {
        code: status.code(),
        signal: status.signal(),
        timed_out,
        elapsed: started.elapsed(),
        stdout: io("stdout", out)?,
        stderr: io("stderr", err)?,
    })
}
