//! The Docker-backed providers (`--provider k3s`, `--provider kwok --kwok-runtime container`) through the
//! CLI binary. Without Docker (this machine, most CI runners) the tests check what happens when Docker does
//! not answer: exit 3 with what to do, no container journalled as live, and `cleanroom gc` keeping a
//! container's journal it cannot act on. The real runs are `#[ignore]`d: they need Docker and the images.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Output;

const UNREACHABLE: &str = "unix:///nonexistent.sock";

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// `cleanroom run smoke ARGS` with its own state and report dirs, an empty PATH dir for the kwok
/// binaries, and `docker_host` as DOCKER_HOST (None: the caller's).
fn run(dir: &Path, args: &[&str], docker_host: Option<&str>) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.args(["run", "smoke", "--scenarios"])
        .arg(scenarios())
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .args(args)
        .env("CLEANROOM_STATE_DIR", dir.join("state"))
        .env("CI", "1")
        .env_remove("CLEANROOM_TOOLS_BIN");
    if let Some(h) = docker_host {
        // A ~/.testcontainers.properties could name another host: give testcontainers an empty HOME.
        c.env("DOCKER_HOST", h).env("HOME", dir);
    }
    let out = c.output().unwrap();
    eprintln!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// Journals left in the state dir (a run that ended removes its own).
fn journals(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir.join("state/runs")) else { return Vec::new() };
    rd.flatten().map(|e| e.path()).collect()
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("reports/latest/report.json")).expect("report.json written")).unwrap()
}

#[test]
fn k3s_without_docker_exits_3_saying_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--provider", "k3s"], Some(UNREACHABLE));
    assert_eq!(out.status.code(), Some(3), "a broken environment, not a failed test");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Docker is not reachable at unix:///nonexistent.sock: start Docker, or use --provider sim|kwok"), "{err}");
    assert!(journals(dir.path()).is_empty(), "nothing left for gc: {:?}", journals(dir.path()));
    let r = report(dir.path());
    assert_eq!(r["provider"], "k3s");
    assert_eq!(r["scenarios"][0]["outcome"], "failed");
    assert!(r["scenarios"][0]["reason"].as_str().unwrap().contains("Docker is not reachable"), "{r}");
}

#[test]
fn kwok_container_runtime_without_docker_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--provider", "kwok", "--kwok-runtime", "container"], Some(UNREACHABLE));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Docker is not reachable at unix:///nonexistent.sock: start Docker, or use --kwok-runtime binary"), "{err}");
    assert!(journals(dir.path()).is_empty());
}

#[test]
fn kwok_auto_without_binaries_or_docker_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("no-tools");
    std::fs::create_dir_all(&tools).unwrap();
    let out = run(dir.path(), &["--provider", "kwok", "--tools", tools.to_str().unwrap()], Some(UNREACHABLE));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--provider kwok needs kwokctl") && err.contains("ci/tools.sh kwok-cluster"), "{err}");
    assert!(err.contains("the container runtime (--kwok-runtime auto's fallback) is not available either: Docker is not reachable"), "{err}");
    assert!(journals(dir.path()).is_empty());
    // --kwok-runtime binary never looks at Docker: the missing binaries alone, before any report.
    let out = run(dir.path(), &["--provider", "kwok", "--kwok-runtime", "binary", "--tools", tools.to_str().unwrap()], Some(UNREACHABLE));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--provider kwok needs kwokctl") && !err.contains("Docker"), "{err}");
}

#[test]
fn kwok_runtime_needs_the_kwok_provider() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--provider", "k3s", "--kwok-runtime", "container"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kwok-runtime chooses how kwok runs: it needs --provider kwok (got k3s)"));
}

#[test]
fn run_help_lists_k3s_and_the_kwok_runtime() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cleanroom")).args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("k3s") && help.contains("--kwok-runtime"), "{help}");
    assert!(help.contains("[possible values: sim, kind, kwok, k3s, existing]"), "{help}");
    assert!(help.contains("[possible values: auto, binary, container]"), "{help}");
}

/// A journal of a dead run that named a container: `gc --dry-run` lists it (and does not sweep the
/// container's cluster: its objects go with it); `gc` without Docker keeps the journal and exits 3.
#[test]
fn gc_keeps_a_container_journal_it_cannot_act_on() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("state/runs");
    std::fs::create_dir_all(&runs).unwrap();
    let dead = dead_pid();
    let journal = runs.join("r1.jsonl");
    std::fs::write(
        &journal,
        format!(
            "{{\"entry\":\"run\",\"run_id\":\"r1\",\"pid\":{dead},\"started_at\":\"2026-01-01T00:00:00Z\",\"provider\":\"k3s\"}}\n\
             {{\"entry\":\"container\",\"name\":\"cleanroom-r1\"}}\n\
             {{\"entry\":\"objects\",\"kubeconfig\":\"/nonexistent/k3s.kubeconfig\",\"context\":\"default\"}}\n"
        ),
    )
    .unwrap();
    let gc = |dry: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"));
        c.arg("gc").env("CLEANROOM_STATE_DIR", dir.path().join("state")).env("DOCKER_HOST", UNREACHABLE).env("HOME", dir.path());
        if dry {
            c.arg("--dry-run");
        }
        let out = c.output().unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (code, text) = gc(true);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("run r1: would delete container cleanroom-r1"), "{text}");
    assert!(!text.contains("k3s.kubeconfig"), "the cluster inside the container is not swept: {text}");
    let (code, text) = gc(false);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("run r1: container cleanroom-r1:") && text.contains("its journal is kept"), "{text}");
    assert!(journal.exists());
}

/// A Docker engine on a unix socket that answers `/_ping`, removes the containers named in `existing`
/// (DELETE → 204, others 404) and fails everything else (500). It records each request line.
struct FakeDocker {
    host: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl FakeDocker {
    fn start(existing: &'static [&'static str]) -> FakeDocker {
        use std::io::{BufRead, BufReader, Read, Write};
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut w = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut len = 0;
                        loop {
                            let mut h = String::new();
                            r.read_line(&mut h).unwrap();
                            if h.trim().is_empty() {
                                break;
                            }
                            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; len];
                        r.read_exact(&mut body).unwrap();
                        let line = line.trim().to_string();
                        seen.lock().unwrap().push(line.clone());
                        let mut parts = line.split(' ');
                        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                        let name = path.split('?').next().unwrap_or("").rsplit('/').next().unwrap_or("");
                        let (status, body) = if path.ends_with("/_ping") {
                            ("200 OK", "OK".to_string())
                        } else if method == "DELETE" && existing.contains(&name) {
                            ("204 No Content", String::new())
                        } else if method == "DELETE" {
                            ("404 Not Found", format!("{{\"message\":\"No such container: {name}\"}}"))
                        } else {
                            ("500 Internal Server Error", "{\"message\":\"fake docker: not implemented\"}".to_string())
                        };
                        let head = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nApi-Version: 1.47\r\nContent-Length: {}\r\n\r\n", body.len());
                        if w.write_all(head.as_bytes()).and_then(|_| w.write_all(body.as_bytes())).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeDocker { host: format!("unix://{}", sock.display()), requests, _dir: dir }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Docker answers but the container cannot be made (the fake fails the pull): exit 3, and the container
/// was removed by name anyway (the create may have happened before the failure).
#[test]
fn a_failed_start_still_removes_the_container_by_name() {
    let docker = FakeDocker::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--provider", "k3s"], Some(&docker.host));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("start container cleanroom-"), "{err}");
    let reqs = docker.requests();
    eprintln!("the fake Docker saw: {reqs:#?}");
    assert!(reqs.iter().any(|r| r.contains("/_ping")), "{reqs:?}");
    let delete = reqs.iter().find(|r| r.starts_with("DELETE ")).unwrap_or_else(|| panic!("no removal: {reqs:?}"));
    assert!(delete.contains("/containers/cleanroom-") && delete.contains("force=true"), "{delete}");
    assert!(journals(dir.path()).is_empty(), "removed (none was there): the journal is closed");
}

/// `cleanroom gc` removes a dead run's container through the Docker API and drops its journal.
#[test]
fn gc_removes_a_dead_runs_container() {
    let docker = FakeDocker::start(&["cleanroom-r2"]);
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("state/runs");
    std::fs::create_dir_all(&runs).unwrap();
    let journal = runs.join("r2.jsonl");
    std::fs::write(
        &journal,
        format!(
            "{{\"entry\":\"run\",\"run_id\":\"r2\",\"pid\":{},\"started_at\":\"2026-01-01T00:00:00Z\",\"provider\":\"k3s\"}}\n\
             {{\"entry\":\"container\",\"name\":\"cleanroom-r2\"}}\n",
            dead_pid()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"))
        .arg("gc")
        .env("CLEANROOM_STATE_DIR", dir.path().join("state"))
        .env("DOCKER_HOST", &docker.host)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("run r2: deleted container cleanroom-r2"), "{text}");
    assert!(docker.requests().iter().any(|r| r.starts_with("DELETE ") && r.contains("/containers/cleanroom-r2?")), "{:?}", docker.requests());
    assert!(!journal.exists(), "collected: the journal is gone");
}

fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn real_smoke(args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), args, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.lines().last().unwrap_or_default().starts_with("1 passed, 0 failed"), "{stdout}");
    assert!(journals(dir.path()).is_empty(), "the container was removed and its journal closed");
}

#[test]
#[ignore = "needs Docker and the rancher/k3s image"]
fn k3s_runs_smoke() {
    real_smoke(&["--provider", "k3s"]);
}

#[test]
#[ignore = "needs Docker and the registry.k8s.io/kwok/cluster image"]
fn kwok_container_runs_smoke() {
    real_smoke(&["--provider", "kwok", "--kwok-runtime", "container"]);
}
