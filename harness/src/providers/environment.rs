//! What a provider needs from the machine — tools on PATH, a running container engine, a recent enough
//! kind — checked before anything is created, each failure with what to do about it. These are
//! [`EnvironmentError`]s: the CLI exits 3 for them (the environment is broken), never 1 (a test failed).

use std::path::PathBuf;
use std::time::Duration;

use super::process::{ToolCall, which};

/// The oldest kind that supports the pinned node image: kind v0.31.0 published
/// `kindest/node:v1.35.0` (node images are supported with the kind release that built them).
pub const MIN_KIND: (u64, u64, u64) = (0, 31, 0);

const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    #[error("`{tool}` is not on PATH: {hint}")]
    ToolMissing { tool: String, hint: String },
    #[error("the {runtime} engine does not answer (`{runtime} info` failed: {detail}); {hint}")]
    RuntimeDown { runtime: String, detail: String, hint: String },
    #[error("{tool} {found} is too old: cleanroom needs {tool} >= {minimum}; {hint}")]
    ToolTooOld { tool: String, found: String, minimum: String, hint: String },
    #[error("cannot tell the {tool} version from `{output}`")]
    UnknownVersion { tool: String, output: String },
    #[error("no kind cluster named `{name}` (kind get clusters lists: {known}); create it with `kind create cluster --name {name}` or drop --cluster")]
    ClusterNotFound { name: String, known: String },
    #[error(
        "--provider {provider} needs {} (looked in {searched}); build them with `{build}` (needs Go; they land in \
         ~/.cache/cleanroom/tools/bin) and pass `--tools ~/.cache/cleanroom/tools/bin`, set CLEANROOM_TOOLS_BIN to that \
         directory, or put them on PATH",
        missing.join(", ")
    )]
    ToolsMissing { provider: String, missing: Vec<String>, searched: String, build: String },
    #[error("`KIND_EXPERIMENTAL_PROVIDER={0}` names no container engine kind knows (docker, podman, nerdctl, finch, nerdctl.lima)")]
    UnknownRuntime(String),
    /// The Docker engine a container provider (k3s, kwok's container runtime) drives does not answer.
    #[error("Docker is not reachable at {host}: {hint} ({detail})")]
    DockerUnreachable { host: String, detail: String, hint: String },
    /// An option this provider cannot honour (e.g. `--context` on the embedded cluster).
    #[error("{0}")]
    Unsupported(String),
}

pub const KIND_INSTALL_HINT: &str = "install kind v0.31.0 or newer (https://kind.sigs.k8s.io, `go install sigs.k8s.io/kind@v0.31.0`) \
     and docker, or use `--provider sim` (embedded, no install) or `--provider existing --context NAME`";

/// The container engine kind runs its nodes in, and so the binary node operations `exec` into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRuntime {
    /// `docker`, `podman`, `nerdctl`, `finch` or `nerdctl.lima` (what kind itself calls).
    pub name: String,
    pub binary: PathBuf,
}

impl NodeRuntime {
    pub fn new(name: &str) -> Self {
        NodeRuntime { name: name.to_string(), binary: which(name).unwrap_or_else(|| PathBuf::from(name)) }
    }
}

/// kind's own choice (`pkg/internal/runtime` and `cluster.DetectNodeProvider`): the
/// `KIND_EXPERIMENTAL_PROVIDER` override, else the first of docker, nerdctl, podman whose `-v`
/// answers. `answers(tool)` runs `<tool> -v` and checks it names itself (`Docker version ...`).
pub fn choose_runtime(override_: Option<&str>, answers: impl Fn(&str) -> bool) -> Result<String, EnvironmentError> {
    match override_.filter(|v| !v.is_empty()) {
        Some(v @ ("docker" | "podman" | "nerdctl" | "finch" | "nerdctl.lima")) => Ok(v.to_string()),
        Some(other) => Err(EnvironmentError::UnknownRuntime(other.to_string())),
        None => ["docker", "nerdctl", "podman"].into_iter().find(|t| answers(t)).map(str::to_string).ok_or_else(|| {
            EnvironmentError::ToolMissing {
                tool: "docker".into(),
                hint: "kind runs its nodes in docker, podman or nerdctl and found none; install and start Docker \
                       (or set KIND_EXPERIMENTAL_PROVIDER=podman|nerdctl)"
                    .into(),
            }
        }),
    }
}

/// `<tool> -v` prints `Docker version 27...`, `podman version 5...`, `nerdctl version 2...`.
fn names_itself(tool: &str, first_line: &str) -> bool {
    let want = match tool {
        "docker" => "Docker version",
        "podman" => "podman version",
        _ => "nerdctl version",
    };
    first_line.starts_with(want)
}

/// Detect the engine as kind does, then check its daemon answers.
pub async fn detect_runtime() -> Result<NodeRuntime, EnvironmentError> {
    let override_ = std::env::var("KIND_EXPERIMENTAL_PROVIDER").ok();
    let mut answering = Vec::new();
    if override_.as_deref().is_none_or(str::is_empty) {
        for tool in ["docker", "nerdctl", "podman"] {
            let Some(bin) = which(tool) else { continue };
            if let Ok(out) = ToolCall::new(&bin, ["-v"]).run(Some(PROBE_TIMEOUT)).await
                && names_itself(tool, out.stdout.lines().next().unwrap_or_default())
            {
                answering.push(tool);
            }
        }
    }
    let name = choose_runtime(override_.as_deref(), |t| answering.contains(&t))?;
    let runtime = NodeRuntime::new(&name);
    if which(&name).is_none() {
        return Err(EnvironmentError::ToolMissing {
            tool: name.clone(),
            hint: format!("KIND_EXPERIMENTAL_PROVIDER selects {name}, so kind and the node operations need it"),
        });
    }
    ToolCall::new(&runtime.binary, ["info"]).run(Some(PROBE_TIMEOUT)).await.map_err(|e| EnvironmentError::RuntimeDown {
        runtime: name.clone(),
        detail: e.to_string(),
        hint: format!("start it (e.g. `sudo systemctl start {name}` or Docker Desktop) and check that your user may use it"),
    })?;
    Ok(runtime)
}

/// `kind v0.31.0 go1.25.5 linux/amd64` (or `kind v0.32.0-alpha.12+abc ...`) → (0, 31, 0).
pub fn parse_kind_version(output: &str) -> Option<(u64, u64, u64)> {
    let word = output.split_whitespace().find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))?;
    parse_semver(word)
}

/// `v3.14.2`, `v4.2`, `3.8.0-rc.1+abc` → (major, minor, patch).
pub fn parse_semver(word: &str) -> Option<(u64, u64, u64)> {
    let core = word.trim().trim_start_matches('v').split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>());
    let major = it.next()?.ok()?;
    let minor = it.next().unwrap_or(Ok(0)).ok()?;
    let patch = it.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

/// Check `kind` is on PATH and at least [`MIN_KIND`].
pub async fn check_kind(kind: &std::path::Path) -> Result<(u64, u64, u64), EnvironmentError> {
    let out = ToolCall::new(kind, ["version"]).run(Some(PROBE_TIMEOUT)).await.map_err(|e| {
        if e.is_not_found() {
            EnvironmentError::ToolMissing { tool: "kind".into(), hint: KIND_INSTALL_HINT.into() }
        } else {
            EnvironmentError::UnknownVersion { tool: "kind".into(), output: e.to_string() }
        }
    })?;
    let v = parse_kind_version(&out.stdout)
        .ok_or_else(|| EnvironmentError::UnknownVersion { tool: "kind".into(), output: out.stdout.trim().to_string() })?;
    if v < MIN_KIND {
        return Err(EnvironmentError::ToolTooOld {
            tool: "kind".into(),
            found: format!("v{}.{}.{}", v.0, v.1, v.2),
            minimum: format!("v{}.{}.{}", MIN_KIND.0, MIN_KIND.1, MIN_KIND.2),
            hint: KIND_INSTALL_HINT.into(),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_choice_follows_kind() {
        assert_eq!(choose_runtime(Some("podman"), |_| true).unwrap(), "podman");
        assert_eq!(choose_runtime(Some("finch"), |_| false).unwrap(), "finch");
        assert!(matches!(choose_runtime(Some("lxc"), |_| true), Err(EnvironmentError::UnknownRuntime(_))));
        // No override: docker first, then nerdctl, then podman, as kind's DetectNodeProvider.
        assert_eq!(choose_runtime(None, |t| t != "docker").unwrap(), "nerdctl");
        assert_eq!(choose_runtime(Some(""), |t| t == "podman").unwrap(), "podman");
        assert!(matches!(choose_runtime(None, |_| false), Err(EnvironmentError::ToolMissing { .. })));
        assert!(names_itself("docker", "Docker version 27.3.1, build ce12230"));
        assert!(!names_itself("docker", "podman version 5.0.0"));
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_kind_version("kind v0.31.0 go1.25.5 linux/amd64"), Some((0, 31, 0)));
        assert_eq!(parse_kind_version("kind v0.32.0-alpha.12+0123456789abcd go1.25 linux/arm64"), Some((0, 32, 0)));
        assert_eq!(parse_kind_version("kind version unknown"), None);
        assert_eq!(parse_semver("v4.2"), Some((4, 2, 0)));
        assert_eq!(parse_semver("v3.8.0-rc.1"), Some((3, 8, 0)));
    }
}
