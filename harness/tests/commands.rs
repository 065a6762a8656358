//! `kubectl` and `script` steps: timeouts and interrupts leave no process behind, exit codes and output
//! checks pass and fail as written, a printed Secret is redacted, missing commands are named, and 10 MB
//! of output costs the report a few KiB.

#![cfg(target_os = "linux")]

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use cleanroom::primitives::StepContext;
use cleanroom::runner::{Cancel, Outcome, StepResult, run_step};
use cleanroom::scenario::{self, Step};

/// The steps of a scenario text (parsed as a file would be).
fn steps(yaml: &str) -> Vec<Step> {
    let text = format!("name: t\nsteps:\n{yaml}");
    scenario::parse_str(&text, Path::new("commands-test.yaml"), None).unwrap_or_else(|e| panic!("{e}")).steps
}

/// A context without a cluster (scripts that do not call kubectl never use the client), output to `dir`.
async fn offline_ctx(dir: &Path) -> StepContext {
    let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    let mut ctx = StepContext::new(client, "sim", Default::default(), "test");
    ctx.report_dir = Some(dir.to_path_buf());
    ctx
}

async fn run(yaml: &str, ctx: &mut StepContext) -> StepResult {
    let s = steps(yaml).remove(0);
    run_step(&s, ctx, "steps", None).await
}

/// A FIFO the script writes its pids into; reading it blocks until the script has started them.
fn fifo(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("pids");
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", p.display());
    p
}

fn read_pids(p: std::path::PathBuf) -> tokio::task::JoinHandle<Vec<i32>> {
    tokio::task::spawn_blocking(move || {
        let mut s = String::new();
        std::fs::File::open(&p).unwrap().read_to_string(&mut s).unwrap();
        s.split_whitespace().map(|x| x.parse().unwrap()).collect()
    })
}

/// Wait (pidfd: the kernel says when it exits, no polling) until `pid` has exited; false on timeout.
fn exits_within(pid: i32, within: Duration) -> bool {
    // SAFETY: pidfd_open(2) takes a pid and flags; the fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    // SAFETY: a fresh fd from pidfd_open.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, within.as_millis() as i32) == 1 }
}

const SLEEPERS: &str = r#""sleep 300 & a=$!; sleep 300 & b=$!; echo \"$$ $a $b\" > \"$PIDFIFO\"; wait""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = offline_ctx(dir.path()).await;
    ctx.variables.insert("PIDFIFO".into(), fifo(dir.path()).display().to_string());
    let pids = read_pids(dir.path().join("pids"));
    let started = Instant::now();
    let r = run(&format!("  - script: {{ run: {SLEEPERS} }}\n    timeout: 2s\n"), &mut ctx).await;
    assert_eq!(r.outcome, Outcome::Failed, "{r:?}");
    assert!(r.reason.as_deref().unwrap().starts_with("timed out after 2s waiting for `sleep 300 &"), "{:?}", r.reason);
    assert!(started.elapsed() < Duration::from_secs(10), "returned after {:?}", started.elapsed());
    let pids = pids.await.unwrap();
    assert_eq!(pids.len(), 3, "bash and both sleeps: {pids:?}");
    for pid in pids {
        assert!(exits_within(pid, Duration::from_secs(5)), "process {pid} outlived its step's timeout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = offline_ctx(dir.path()).await;
    ctx.variables.insert("PIDFIFO".into(), fifo(dir.path()).display().to_string());
    let pids = read_pids(dir.path().join("pids"));
    let (handle, cancel) = Cancel::new();
    let s = steps(&format!("  - script: {{ run: {SLEEPERS} }}\n    timeout: 5m\n")).remove(0);
    let step = run_step(&s, &mut ctx, "steps", Some(&cancel));
    tokio::pin!(step);
    let pids = tokio::select! {
        p = pids => p.unwrap(),
        r = &mut step => panic!("the step ended before it started its sleepers: {r:?}"),
    };
    handle.cancel();
    let r = step.await;
    assert_eq!(r.reason.as_deref(), Some("interrupted by signal"));
    for pid in pids {
        assert!(exits_within(pid, Duration::from_secs(5)), "process {pid} outlived the interrupt");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_output_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = offline_ctx(dir.path()).await;
    ctx.variables.insert("GREETING".into(), "hello".into());

    let ok = run(
        "  - script: { run: 'echo $GREETING; echo oops >&2; exit 3', exitCode: 3, stdout: { contains: hello, matches: '^hel+o\\n$' }, stderr: { contains: oops } }\n",
        &mut ctx,
    )
    .await;
    assert_eq!(ok.outcome, Outcome::Passed, "{ok:?}");
    assert!(ok.detail.as_deref().unwrap().starts_with("exit 3 in "), "{:?}", ok.detail);

    let cases = [
        ("  - script: { run: 'echo boom >&2; exit 2' }\n", "`echo boom >&2; exit 2`: exit 2: boom (expected exit 0)"),
        ("  - script: { run: 'echo hello', stdout: { contains: bye } }\n", "expected stdout to contain `bye`, but stdout was 6 bytes: hello"),
        ("  - script: { run: 'echo hello', stdout: { matches: '^bye' } }\n", "expected stdout to match /^bye/, but stdout was 6 bytes: hello"),
        ("  - script: { run: 'echo hello', stdout: { empty: true } }\n", "expected empty stdout, but stdout was 6 bytes: hello"),
        ("  - script: { run: 'true', stderr: { empty: false } }\n", "expected stderr output, but it was empty"),
    ];
    for (yaml, want) in cases {
        let r = run(yaml, &mut ctx).await;
        assert_eq!(r.outcome, Outcome::Failed, "{yaml}: {r:?}");
        assert!(r.reason.as_deref().unwrap().contains(want), "{yaml}: expected {want:?} in {:?}", r.reason);
    }

    let expected_failure = run("  - script: { run: 'exit 4' }\n    expect: fails\n    message: 'exit 4 \\(expected exit 0\\)'\n", &mut ctx).await;
    assert_eq!(expected_failure.outcome, Outcome::Passed, "{expected_failure:?}");

    // A procedure's failure is a finding, not a step failure.
    let before = ctx.findings.len();
    let proc = run("  - name: a runbook line\n    script: { run: 'echo nope >&2; exit 1', procedure: true }\n", &mut ctx).await;
    assert_eq!(proc.outcome, Outcome::Passed, "{proc:?}");
    let f = &ctx.findings[before..];
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].step.as_str(), f[0].text.as_str()), ("a runbook line", "exit 1: nope"));
    let never = run("  - script: { run: 'echo x | grep x || true', procedure: true }\n", &mut ctx).await;
    assert_eq!(never.outcome, Outcome::Passed, "{never:?}");
    assert!(ctx.findings.last().unwrap().text.starts_with("a check that can never fail: `grep x || true` ends in `|| true`"), "{:?}", ctx.findings.last());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_commands_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = offline_ctx(dir.path()).await;
    let r = run("  - script: { run: 'no-such-tool-cleanroom --version' }\n", &mut ctx).await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.reason.as_deref().unwrap().contains("exit 127: `no-such-tool-cleanroom` not found on PATH"), "{:?}", r.reason);
    assert!(cleanroom::primitives::command::find_program("no-such-tool-cleanroom").is_none());
    assert!(cleanroom::primitives::command::find_program("bash").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabytes_of_output_stay_out_of_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = offline_ctx(dir.path()).await;
    // 10 MiB in 100-byte lines, then 10 MiB as one line without a newline.
    let line = "x".repeat(99);
    let pointer = regex::Regex::new(r"bytes omitted; full output: (\S+) …").unwrap();
    for run_text in [format!("yes {line} | head -c 10485760"), "head -c 10485760 /dev/zero | tr -c y y".to_string()] {
        let r = run(&format!("  - script: {{ run: \"{run_text}\", stdout: {{ matches: '^x|y' }} }}\n    timeout: 2m\n"), &mut ctx).await;
        assert_eq!(r.outcome, Outcome::Passed, "{r:?}");
        let detail = r.detail.unwrap();
        assert!(detail.len() < 16 * 1024, "the report keeps {} bytes of output", detail.len());
        let file = pointer.captures(&detail).expect("a pointer to the full file")[1].to_string();
        let len = std::fs::metadata(&file).unwrap().len();
        assert!(len >= 10 * 1024 * 1024, "{file} holds {len} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printed_secret_is_redacted() {
    let sim = common::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let mut ctx = common::ctx(&sim);
    ctx.kubeconfig = Some(kubeconfig);
    ctx.report_dir = Some(dir.path().to_path_buf());
    let value = "s3cr3t-Value-42";
    let b64 = "czNjcjN0LVZhbHVlLTQy"; // base64 of the value
    let made = run(&format!("  - kubectl: {{ args: [create, secret, generic, creds, -n, default, --from-literal=apikey={value}, --from-literal=user=admin] }}\n"), &mut ctx).await;
    assert_eq!(made.outcome, Outcome::Passed, "{made:?}");
    for args in ["[get, secret, creds, -n, default, -o, yaml]", "[get, secrets, -n, default, -o, yaml]", "[get, secret, creds, -n, default, -o, json]"] {
        let r = run(&format!("  - kubectl: {{ args: {args}, stdout: {{ contains: '<redacted>' }} }}\n"), &mut ctx).await;
        assert_eq!(r.outcome, Outcome::Passed, "{args}: {r:?}");
        let detail = r.detail.unwrap();
        assert!(detail.contains("creds"), "{args}: the object is shown: {detail}");
        assert!(!detail.contains(b64) && !detail.contains("YWRtaW4=") && !detail.contains(value), "{args}: Secret data in the report");
    }
    for entry in std::fs::read_dir(dir.path().join("commands")).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains(b64) && !text.contains(value), "Secret data in {}", p.display());
    }
}
