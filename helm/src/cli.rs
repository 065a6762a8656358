//! [`HelmEngine`] over the real `helm` binary (kind / existing clusters). Argument lists may hold
//! `--set` secrets, so they are never logged and errors name only the action and release.
//!
//! Versions: `helm version --template '{{.Version}}'` runs once per engine; below [`MIN_HELM`] every
//! action refuses with [`HelmError::UnsupportedVersion`]. Flags follow the version:
//! - `--cascade` exists from helm 3.12 (the default, background, is simply not passed before);
//! - `--take-ownership` from 3.17 (asking for it earlier is [`HelmError::FlagUnsupported`]);
//! - `--wait`: v3's `--wait` is the legacy readiness wait; v4's bare `--wait` is the kstatus
//!   watcher, so v4 gets `--wait=watcher` spelled out (never `legacy`, which v4 keeps for v3 parity only);
//! - v4 applies server-side by default; cleanroom passes `--server-side=true` explicitly (v4 upgrades
//!   otherwise follow the previous release's method, `auto`); v3 applies client-side (three-way merge);
//! - `helm list` gets explicit state flags (`--deployed --failed --pending --superseded --uninstalled
//!   --uninstalling`): without them v3 lists deployed and failed releases only, v4 all; `--all` is gone in v4.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use futures::future::BoxFuture;
use serde_json::Value;

use super::error::{Failure, HelmError};
use super::release::ReleaseRecord;
use super::render::parse_render;
use super::{HelmEngine, InstallRequest, ReleaseInfo, ResourceRef, UninstallOptions, UninstallReport};

/// The oldest helm cleanroom drives (3.8: OCI charts without the experimental flag, `--output json`).
pub const MIN_HELM: HelmVersion = HelmVersion { major: 3, minor: 8, patch: 0 };

/// A helm release version, as `helm version --template '{{.Version}}'` prints it (`v3.14.2`, `v4.2.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HelmVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl HelmVersion {
    pub fn parse(text: &str) -> Option<HelmVersion> {
        let core = text.trim().trim_start_matches('v').split(['-', '+']).next()?;
        let mut it = core.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next().map_or(Some(0), |p| p.parse().ok())?;
        let patch = it.next().map_or(Some(0), |p| p.parse().ok())?;
        Some(HelmVersion { major, minor, patch })
    }
    const fn at_least(self, major: u64, minor: u64) -> bool {
        self.major > major || (self.major == major && self.minor >= minor)
    }
}

impl std::fmt::Display for HelmVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Debug, Clone)]
pub struct HelmCli {
    /// The binary; `helm` (looked up on PATH) by default.
    pub binary: PathBuf,
    pub kubeconfig: Option<PathBuf>,
    pub kube_context: Option<String>,
    /// `helm version`, asked once (shared by clones).
    version: std::sync::Arc<tokio::sync::OnceCell<HelmVersion>>,
}

/// Which action prefix helm puts on this command's errors.
#[derive(Clone, Copy)]
pub(crate) enum Action {
    Install,
    Upgrade,
    Uninstall,
    Query,
}

/// `--set` values are passed without a shell: drop shell-style double quotes (`x=""` → `x=`),
/// as the recorded engine reads them.
fn set_arg(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("--set").map(str::trim_start).unwrap_or(s);
    match s.split_once('=') {
        Some((k, v)) => format!("{k}={}", v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)),
        None => s.to_string(),
    }
}

/// `kube-prometheus-stack-88.5.3` → (`kube-prometheus-stack`, `88.5.3`): split at the first `-`
/// that starts a semver (versions may carry `-rc.1`, names may contain digits).
fn split_chart(chart: &str) -> (String, String) {
    let semver = regex::Regex::new(r"^\d+\.\d+(\.\d+)?([-+].*)?$").expect("regex");
    for (i, _) in chart.match_indices('-') {
        if semver.is_match(&chart[i + 1..]) {
            return (chart[..i].to_string(), chart[i + 1..].to_string());
        }
    }
    (chart.to_string(), String::new())
}

impl Default for HelmCli {
    fn default() -> Self {
        HelmCli { binary: PathBuf::from("helm"), kubeconfig: None, kube_context: None, version: Default::default() }
    }
}

impl HelmCli {
    pub fn new(kubeconfig: Option<PathBuf>, kube_context: Option<String>) -> Self {
        HelmCli { kubeconfig, kube_context, ..Default::default() }
    }

    /// The same, running `binary` instead of `helm` from PATH.
    pub fn with_binary(mut self, binary: impl Into<PathBuf>) -> Self {
        self.binary = binary.into();
        self
    }

    pub(crate) fn common(&self, args: &mut Vec<String>) {
        if let Some(k) = &self.kubeconfig {
            args.extend(["--kubeconfig".into(), k.display().to_string()]);
        }
        if let Some(c) = &self.kube_context {
            args.extend(["--kube-context".into(), c.clone()]);
        }
    }

    /// `helm version`, once; a helm below [`MIN_HELM`] is refused here, before any action runs.
    pub async fn version(&self) -> Result<HelmVersion, HelmError> {
        let v = self
            .version
            .get_or_try_init(|| async {
                let args = vec!["version".to_string(), "--template".into(), "{{.Version}}".into()];
                let out = self.run(Action::Query, "helm version", args).await?;
                HelmVersion::parse(&out).ok_or_else(|| HelmError::Cli {
                    command: "helm version".into(),
                    message: format!("cannot read a version from `{}`", out.trim()),
                })
            })
            .await?;
        if *v < MIN_HELM {
            return Err(HelmError::UnsupportedVersion { found: v.to_string(), minimum: MIN_HELM.to_string() });
        }
        Ok(*v)
    }

    /// `--wait` as this helm means "wait until resources are ready".
    pub(crate) fn wait_flag(v: HelmVersion) -> &'static str {
        if v.major >= 4 { "--wait=watcher" } else { "--wait" }
    }

    /// `inline_values`: a file holding `req.values` (written by the caller; see [`Self::with_inline_values`]).
    fn chart_args(&self, v: HelmVersion, req: &InstallRequest, inline_values: Option<&Path>, args: &mut Vec<String>) -> Result<(), HelmError> {
        args.extend([req.release.clone(), req.chart.clone(), "--namespace".into(), req.namespace.clone()]);
        if let Some(v) = &req.version {
            args.extend(["--version".into(), v.clone()]);
        }
        for f in req.values_files.iter().map(PathBuf::as_path).chain(inline_values) {
            args.extend(["--values".into(), f.display().to_string()]);
        }
        for s in req.set.iter().filter(|s| !s.trim().is_empty()) {
            args.extend(["--set".into(), set_arg(s)]);
        }
        if req.create_namespace {
            args.push("--create-namespace".into());
        }
        if req.wait {
            args.push(Self::wait_flag(v).into());
        }
        if req.take_ownership {
            if !v.at_least(3, 17) {
                return Err(HelmError::FlagUnsupported { what: "takeOwnership (--take-ownership)".into(), minimum: "v3.17.0".into(), found: v.to_string() });
            }
            args.push("--take-ownership".into());
        }
        if v.major >= 4 {
            args.push("--server-side=true".into());
        }
        args.extend(["--timeout".into(), format!("{}s", req.timeout.as_secs()), "--output".into(), "json".into()]);
        self.common(args);
        Ok(())
    }

    pub fn install_args(&self, v: HelmVersion, req: &InstallRequest, inline_values: Option<&Path>) -> Result<Vec<String>, HelmError> {
        let mut a = vec!["install".to_string()];
        self.chart_args(v, req, inline_values, &mut a)?;
        Ok(a)
    }

    pub fn upgrade_args(
        &self,
        v: HelmVersion,
        req: &InstallRequest,
        install_if_missing: bool,
        inline_values: Option<&Path>,
    ) -> Result<Vec<String>, HelmError> {
        let mut a = vec!["upgrade".to_string()];
        if install_if_missing {
            a.push("--install".into());
        }
        self.chart_args(v, req, inline_values, &mut a)?;
        Ok(a)
    }

    /// Write `req.values` to a private temp file (values may hold passwords; removed on drop).
    pub(crate) fn with_inline_values(req: &InstallRequest) -> Result<Option<tempfile::NamedTempFile>, HelmError> {
        if req.values.is_empty() {
            return Ok(None);
        }
        let err = |e: std::io::Error| HelmError::Cli {
            command: format!("helm {}", req.release),
            message: format!("cannot write the inline values file: {e}"),
        };
        // NamedTempFile is created with mode 0600; JSON is valid YAML.
        let mut f = tempfile::Builder::new().prefix("cleanroom-values-").suffix(".yaml").tempfile().map_err(err)?;
        serde_json::to_writer(&mut f, &req.values).map_err(|e| err(e.into()))?;
        Ok(Some(f))
    }

    pub fn uninstall_args(&self, v: HelmVersion, release: &str, namespace: &str, opts: &UninstallOptions) -> Result<Vec<String>, HelmError> {
        let mut a = vec!["uninstall".into(), release.into(), "--namespace".into(), namespace.into()];
        if opts.keep_history {
            a.push("--keep-history".into());
        }
        if v.at_least(3, 12) {
            a.extend(["--cascade".into(), opts.cascade.as_str().into()]);
        } else if opts.cascade != crate::Cascade::Background {
            return Err(HelmError::FlagUnsupported {
                what: format!("cascade: {} (--cascade)", opts.cascade.as_str()),
                minimum: "v3.12.0".into(),
                found: v.to_string(),
            });
        }
        if opts.wait {
            a.push(Self::wait_flag(v).into());
        }
        a.extend(["--timeout".into(), format!("{}s", opts.timeout.as_secs())]);
        self.common(&mut a);
        Ok(a)
    }

    /// Every release in every state, the same on v3 and v4.
    pub fn list_args(&self, namespace: Option<&str>) -> Vec<String> {
        let mut a = vec!["list".to_string()];
        match namespace {
            Some(ns) => a.extend(["--namespace".into(), ns.into()]),
            None => a.push("--all-namespaces".into()),
        }
        a.extend(["--deployed", "--failed", "--pending", "--superseded", "--uninstalled", "--uninstalling"].map(String::from));
        a.extend(["--output".into(), "json".into()]);
        self.common(&mut a);
        a
    }

    pub fn status_args(&self, release: &str, namespace: &str) -> Vec<String> {
        let mut a = vec![
            "status".into(),
            release.into(),
            "--namespace".into(),
            namespace.into(),
            "--output".into(),
            "json".into(),
        ];
        self.common(&mut a);
        a
    }

    /// Run helm; stdout on success, the action's [`HelmError`] from `Error: ...` otherwise.
    pub(crate) async fn run(&self, action: Action, what: &str, args: Vec<String>) -> Result<String, HelmError> {
        let out = tokio::process::Command::new(&self.binary)
            .args(&args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => HelmError::HelmNotFound,
                _ => HelmError::Cli {
                    command: what.into(),
                    message: format!("cannot run {}: {e}", self.binary.display()),
                },
            })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(map_error(action, what, out.status.code(), &stderr))
    }
}

/// helm prints `Error: <ACTION PREFIX>: <cause>` as its last `Error:` line.
fn map_error(action: Action, what: &str, code: Option<i32>, stderr: &str) -> HelmError {
    let text = match stderr.rfind("Error: ") {
        Some(i) => stderr[i + "Error: ".len()..].trim().to_string(),
        None => stderr.trim().to_string(),
    };
    let strip = |p: &str| text.strip_prefix(p).map(Failure::from_text);
    let mapped = match action {
        Action::Install => strip("INSTALLATION FAILED: ").map(HelmError::Install),
        Action::Upgrade => strip("UPGRADE FAILED: ").map(HelmError::Upgrade),
        Action::Uninstall => strip("uninstall: ").map(HelmError::Uninstall),
        Action::Query => Some(HelmError::Query(Failure::from_text(&text))),
    };
    mapped.unwrap_or_else(|| match action {
        // e.g. chart-not-found errors come without the action prefix
        Action::Install => HelmError::Install(Failure::from_text(&text)),
        Action::Upgrade => HelmError::Upgrade(Failure::from_text(&text)),
        Action::Uninstall => HelmError::Uninstall(Failure::from_text(&text)),
        Action::Query => HelmError::Cli { command: what.into(), message: format!("exit {code:?}: {text}") },
    })
}

pub(crate) fn release_info(stdout: &str, what: &str) -> Result<ReleaseInfo, HelmError> {
    let rec: ReleaseRecord = serde_json::from_str(stdout).map_err(|e| HelmError::Cli {
        command: what.into(),
        message: format!("unexpected output (not a release): {e}"),
    })?;
    let resources = parse_render(&rec.manifest)
        .map(|r| {
            r.templates
                .iter()
                .map(|d| ResourceRef {
                    api_version: d.api_version().into(),
                    kind: d.kind().into(),
                    namespace: d.namespace().map(str::to_string),
                    name: d.name().into(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(rec.to_info(resources))
}

/// helm's texts for a chart it could not fetch (no network, unknown repo, missing path), as one
/// "chart not reachable" failure naming the chart.
pub(crate) fn unreachable_chart(e: HelmError, chart: &str) -> HelmError {
    const SIGNS: &[&str] = &[
        "repo ", "no such host", "dial tcp", "failed to fetch", "failed to download", "not a valid chart repository",
        "could not find protocol handler", "path \"", "no cached repo", "i/o timeout", "connection refused", "failed to do request",
    ];
    let wrap = |f: Failure| match f {
        Failure::Other(t) if SIGNS.iter().any(|s| t.contains(s)) && !t.contains("INSTALLATION FAILED: release") => {
            Failure::Other(format!("chart not reachable: {chart}: {t}"))
        }
        other => other,
    };
    match e {
        HelmError::Install(f) => HelmError::Install(wrap(f)),
        HelmError::Upgrade(f) => HelmError::Upgrade(wrap(f)),
        other => other,
    }
}

/// `These resources were kept due to the resource policy:` lines `[Kind] name`.
fn kept_from_output(stdout: &str) -> Vec<ResourceRef> {
    stdout
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix('[')?;
            let (kind, name) = l.split_once("] ")?;
            Some(ResourceRef {
                api_version: String::new(),
                kind: kind.into(),
                namespace: None,
                name: name.trim().into(),
            })
        })
        .collect()
}

impl HelmEngine for HelmCli {
    fn binary(&self) -> Option<&HelmCli> {
        Some(self)
    }
    fn install<'a>(&'a self, req: &'a InstallRequest) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>> {
        Box::pin(async move {
            let what = format!("helm install {}", req.release);
            let v = self.version().await?;
            let inline = Self::with_inline_values(req)?;
            let args = self.install_args(v, req, inline.as_ref().map(|f| f.path()))?;
            let out = self.run(Action::Install, &what, args).await.map_err(|e| unreachable_chart(e, &req.chart))?;
            release_info(&out, &what)
        })
    }
    fn upgrade<'a>(
        &'a self,
        req: &'a InstallRequest,
        install_if_missing: bool,
    ) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>> {
        Box::pin(async move {
            let what = format!("helm upgrade {}", req.release);
            let v = self.version().await?;
            let inline = Self::with_inline_values(req)?;
            let args = self.upgrade_args(v, req, install_if_missing, inline.as_ref().map(|f| f.path()))?;
            let out = self.run(Action::Upgrade, &what, args).await.map_err(|e| unreachable_chart(e, &req.chart))?;
            release_info(&out, &what)
        })
    }
    fn uninstall<'a>(
        &'a self,
        release: &'a str,
        namespace: &'a str,
        opts: &'a UninstallOptions,
    ) -> BoxFuture<'a, Result<UninstallReport, HelmError>> {
        Box::pin(async move {
            let what = format!("helm uninstall {release}");
            let v = self.version().await?;
            let out = self.run(Action::Uninstall, &what, self.uninstall_args(v, release, namespace, opts)?).await?;
            Ok(UninstallReport {
                release: release.into(),
                namespace: namespace.into(),
                deleted: vec![],
                kept: kept_from_output(&out),
                message: out.trim().to_string(),
                engine: String::new(),
            })
        })
    }
    fn list<'a>(&'a self, namespace: Option<&'a str>) -> BoxFuture<'a, Result<Vec<ReleaseInfo>, HelmError>> {
        Box::pin(async move {
            let what = "helm list".to_string();
            self.version().await?;
            let out = self.run(Action::Query, &what, self.list_args(namespace)).await?;
            let rows: Vec<Value> = serde_json::from_str(&out)
                .map_err(|e| HelmError::Cli { command: what.clone(), message: format!("unexpected output: {e}") })?;
            Ok(rows
                .iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                    let (chart_name, chart_version) = split_chart(&s("chart"));
                    ReleaseInfo {
                        name: s("name"),
                        namespace: s("namespace"),
                        revision: s("revision").parse().unwrap_or(0),
                        status: s("status"),
                        chart_name,
                        chart_version,
                        app_version: r["app_version"].as_str().map(str::to_string),
                        description: String::new(),
                        first_deployed: None,
                        last_deployed: r["updated"].as_str().map(str::to_string),
                        resources: vec![],
                        engine: String::new(),
                    }
                })
                .collect())
        })
    }
    fn status<'a>(&'a self, release: &'a str, namespace: &'a str) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>> {
        Box::pin(async move {
            let what = format!("helm status {release}");
            self.version().await?;
            let out = self.run(Action::Query, &what, self.status_args(release, namespace)).await?;
            let mut info = release_info(&out, &what)?;
            // `helm status -o json` (v3.22, v4) leaves the chart out; `helm list` has it.
            if info.chart_name.is_empty()
                && let Some(row) = self.list(Some(namespace)).await?.into_iter().find(|r| r.name == release)
            {
                info.chart_name = row.chart_name;
                info.chart_version = row.chart_version;
                info.app_version = row.app_version;
            }
            Ok(info)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cascade;
    use std::time::Duration;

    const V4: HelmVersion = HelmVersion { major: 4, minor: 2, patch: 0 };
    const V3_11: HelmVersion = HelmVersion { major: 3, minor: 11, patch: 3 };

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!(HelmVersion::parse("v3.14.2"), Some(HelmVersion { major: 3, minor: 14, patch: 2 }));
        assert_eq!(HelmVersion::parse("v4.2"), Some(V4));
        assert_eq!(HelmVersion::parse("v3.8.0-rc.1+abc").map(|v| v >= MIN_HELM), Some(true));
        assert!(HelmVersion::parse("v3.7.2").unwrap() < MIN_HELM);
        assert_eq!(HelmVersion::parse("garbage"), None);
    }

    fn cli() -> HelmCli {
        HelmCli::new(Some("/tmp/kc".into()), Some("kind-cleanroom".into()))
    }

    #[test]
    fn install_and_upgrade_argv() {
        let mut req =
            InstallRequest::new("prometheus-stack", "monitoring", "prometheus-community/kube-prometheus-stack");
        req.version = Some("88.5.3".into());
        req.values_files = vec!["values/storage.yaml".into()];
        req.set = vec![
            "--set prometheus.prometheusSpec.storageSpec.emptyDir.medium=\"\"".into(),
            "grafana.persistence.enabled=false".into(),
        ];
        req.create_namespace = true;
        req.timeout = Duration::from_secs(600);
        req.wait = true;
        let want: Vec<String> = "install prometheus-stack prometheus-community/kube-prometheus-stack --namespace monitoring --version 88.5.3 --values values/storage.yaml --set prometheus.prometheusSpec.storageSpec.emptyDir.medium= --set grafana.persistence.enabled=false --create-namespace --wait=watcher --server-side=true --timeout 600s --output json --kubeconfig /tmp/kc --kube-context kind-cleanroom"
            .split(' ')
            .map(String::from)
            .collect();
        assert_eq!(cli().install_args(V4, &req, None).unwrap(), want);
        // v3: the legacy `--wait`, client-side apply (no --server-side).
        let v3 = cli().install_args(V3_11, &req, None).unwrap();
        assert!(v3.contains(&"--wait".to_string()) && !v3.iter().any(|a| a.starts_with("--server-side") || a.starts_with("--wait=")));
        req.take_ownership = true;
        assert!(matches!(cli().install_args(V3_11, &req, None), Err(HelmError::FlagUnsupported { .. })));
        assert!(cli().install_args(HelmVersion::parse("v3.17.0").unwrap(), &req, None).unwrap().contains(&"--take-ownership".to_string()));
        let up = cli().upgrade_args(V4, &req, true, Some(Path::new("/tmp/inline.yaml"))).unwrap();
        assert!(up.windows(2).any(|w| w == ["--values", "/tmp/inline.yaml"]));
        assert_eq!(&up[..3], ["upgrade", "--install", "prometheus-stack"]);
    }

    #[test]
    fn uninstall_list_status_argv() {
        let opts = UninstallOptions {
            keep_history: true,
            cascade: Cascade::Foreground,
            wait: true,
            timeout: Duration::from_secs(300),
        };
        assert_eq!(
            cli().uninstall_args(V4, "r", "ns", &opts).unwrap().join(" "),
            "uninstall r --namespace ns --keep-history --cascade foreground --wait=watcher --timeout 300s --kubeconfig /tmp/kc --kube-context kind-cleanroom"
        );
        // Before 3.12 there is no --cascade: the default is left out, anything else is refused.
        assert!(matches!(cli().uninstall_args(V3_11, "r", "ns", &opts), Err(HelmError::FlagUnsupported { .. })));
        let background = UninstallOptions { cascade: Cascade::Background, ..opts };
        let old = cli().uninstall_args(V3_11, "r", "ns", &background).unwrap();
        assert!(!old.iter().any(|a| a == "--cascade") && old.contains(&"--wait".to_string()), "{old:?}");
        assert_eq!(
            HelmCli::default().list_args(None).join(" "),
            "list --all-namespaces --deployed --failed --pending --superseded --uninstalled --uninstalling --output json"
        );
        assert_eq!(HelmCli::default().status_args("r", "ns").join(" "), "status r --namespace ns --output json");
    }

    #[test]
    fn maps_stderr_and_output() {
        let e = map_error(
            Action::Install,
            "helm install r",
            Some(1),
            "Error: INSTALLATION FAILED: cannot reuse a name that is still in use\n",
        );
        assert!(matches!(e, HelmError::Install(Failure::NameInUse)));
        let e =
            map_error(Action::Uninstall, "x", Some(1), "Error: uninstall: Release not loaded: r: release: not found");
        assert!(matches!(e, HelmError::Uninstall(Failure::ReleaseNotLoaded(ref n)) if n == "r"), "{e}");
        assert_eq!(split_chart("kube-prometheus-stack-88.5.3"), ("kube-prometheus-stack".into(), "88.5.3".into()));
        assert_eq!(split_chart("x-1.0.0-rc.1"), ("x".into(), "1.0.0-rc.1".into()));
        let kept = kept_from_output(
            "These resources were kept due to the resource policy:\n[Secret] s\n\nrelease \"r\" uninstalled\n",
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].to_string(), "[Secret] s");
    }
}
