//! Which engine runs a Helm step: `--helm auto|cli|recorded`.
//!
//! - `recorded`: never the binary; a request without a matching render fails with the catalogue's miss.
//! - `cli`: always the binary (found by `--helm-binary`, `CLEANROOM_HELM`, then `PATH`).
//! - `auto` (default): a recorded render when one matches the request exactly (hermetic, no network),
//!   else the binary, else [`HelmError::NoEngine`] naming both ways out.
//!
//! A release stays with the engine that installed it (uninstall/status/test go to the same one); a
//! release this run did not install goes to the binary when there is one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::future::BoxFuture;

use super::error::HelmError;
use super::{HelmCli, HelmEngine, InstallRequest, RecordedRenderEngine, ReleaseInfo, UninstallOptions, UninstallReport};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EngineMode {
    #[default]
    Auto,
    Cli,
    Recorded,
}

impl std::str::FromStr for EngineMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(EngineMode::Auto),
            "cli" => Ok(EngineMode::Cli),
            "recorded" => Ok(EngineMode::Recorded),
            other => Err(format!("unknown helm engine `{other}`; known: auto, cli, recorded")),
        }
    }
}

impl EngineMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineMode::Auto => "auto",
            EngineMode::Cli => "cli",
            EngineMode::Recorded => "recorded",
        }
    }
}

/// The helm binary: `explicit` (`--helm-binary`), else `$CLEANROOM_HELM`, else `helm` on `PATH`.
pub fn find_helm(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("CLEANROOM_HELM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("helm")).find(|p| p.is_file())
}

/// Where a release went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Used {
    Cli,
    Recorded,
}

/// An engine per step, chosen by [`EngineMode`] from a recorded-render engine and a `helm` binary.
pub struct HelmChoice {
    mode: EngineMode,
    recorded: Option<RecordedRenderEngine>,
    cli: Option<HelmCli>,
    /// Why there is no recorded engine (no catalogue), for errors.
    recorded_missing: Option<String>,
    used: Mutex<HashMap<(String, String), Used>>,
}

impl HelmChoice {
    pub fn new(mode: EngineMode, recorded: Result<RecordedRenderEngine, String>, cli: Option<HelmCli>) -> Self {
        let (recorded, recorded_missing) = match recorded {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        HelmChoice { mode, recorded, cli, recorded_missing, used: Mutex::new(HashMap::new()) }
    }

    pub fn mode(&self) -> EngineMode {
        self.mode
    }

    async fn cli_name(&self, cli: &HelmCli) -> String {
        match cli.version().await {
            Ok(v) => format!("helm {v} ({})", cli.binary.display()),
            Err(_) => format!("helm ({})", cli.binary.display()),
        }
    }

    fn no_binary(&self) -> HelmError {
        HelmError::HelmNotFound
    }

    /// The engine for an install/upgrade request, and its name for the step's detail.
    async fn pick(&self, req: &InstallRequest) -> Result<(Used, String), HelmError> {
        let recorded_match = match &self.recorded {
            Some(r) if self.mode != EngineMode::Cli && req.render.is_none() => match r.catalog() {
                Some(c) => Some(c.lookup_request(req).map(|m| m.entry)),
                None => None,
            },
            Some(_) if req.render.is_some() => Some(Ok(req.render.as_ref().map(|p| p.display().to_string()).unwrap_or_default())),
            _ => None,
        };
        match self.mode {
            EngineMode::Recorded => match recorded_match {
                Some(Ok(entry)) => Ok((Used::Recorded, format!("recorded render {entry}"))),
                Some(Err(miss)) => Err(miss.into()),
                None => Err(HelmError::NoEngine(format!(
                    "--helm recorded, but there is no render catalogue ({})",
                    self.recorded_missing.as_deref().unwrap_or("none given")
                ))),
            },
            EngineMode::Cli => match &self.cli {
                Some(c) => Ok((Used::Cli, self.cli_name(c).await)),
                None => Err(self.no_binary()),
            },
            EngineMode::Auto => match (recorded_match, &self.cli) {
                (Some(Ok(entry)), _) => Ok((Used::Recorded, format!("recorded render {entry}"))),
                (_, Some(c)) => Ok((Used::Cli, self.cli_name(c).await)),
                (miss, None) => Err(HelmError::NoEngine(format!(
                    "chart {:?} (release {} in {}): no recorded render matches this request and no `helm` binary was found \
                     (--helm-binary PATH, $CLEANROOM_HELM, or helm on PATH). Record one with `cleanroom record {} --release {} --namespace {}` \
                     (writes the render and its renders.yaml entry), or install Helm >= 3.8{}",
                    req.chart,
                    req.release,
                    req.namespace,
                    req.chart,
                    req.release,
                    req.namespace,
                    match miss {
                        Some(Err(e)) => format!(".\n{e}"),
                        _ => String::new(),
                    }
                ))),
            },
        }
    }

    /// The engine that owns an existing release.
    fn owner(&self, release: &str, namespace: &str) -> Result<Used, HelmError> {
        if let Some(u) = self.used.lock().expect("engine map").get(&(namespace.to_string(), release.to_string())) {
            return Ok(*u);
        }
        match (self.mode, &self.cli, &self.recorded) {
            (EngineMode::Recorded, _, Some(_)) => Ok(Used::Recorded),
            (EngineMode::Cli, Some(_), _) | (EngineMode::Auto, Some(_), _) => Ok(Used::Cli),
            (EngineMode::Auto, None, Some(_)) => Ok(Used::Recorded),
            (EngineMode::Cli, None, _) => Err(self.no_binary()),
            _ => Err(HelmError::NoEngine("no Helm engine: no render catalogue and no `helm` binary".into())),
        }
    }

    fn engine(&self, u: Used) -> &dyn HelmEngine {
        match u {
            Used::Cli => self.cli.as_ref().map(|c| c as &dyn HelmEngine),
            Used::Recorded => self.recorded.as_ref().map(|r| r as &dyn HelmEngine),
        }
        .expect("owner() only names engines that exist")
    }

    async fn name_of(&self, u: Used) -> String {
        match (u, &self.cli) {
            (Used::Cli, Some(c)) => self.cli_name(c).await,
            _ => "recorded-render engine".into(),
        }
    }

    /// The `helm` binary engine, when there is one (for actions only it can do: test, rollback, template).
    pub fn cli(&self) -> Option<&HelmCli> {
        self.cli.as_ref()
    }

    /// Whether this release went through the recorded-render engine.
    pub fn is_recorded(&self, release: &str, namespace: &str) -> bool {
        self.owner(release, namespace).is_ok_and(|u| u == Used::Recorded)
    }
}

impl HelmEngine for HelmChoice {
    fn binary(&self) -> Option<&HelmCli> {
        self.cli.as_ref()
    }
    fn install<'a>(&'a self, req: &'a InstallRequest) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>> {
        Box::pin(async move {
            let (u, name) = self.pick(req).await?;
            let mut info = self.engine(u).install(req).await?;
            self.used.lock().expect("engine map").insert((req.namespace.clone(), req.release.clone()), u);
            info.engine = name;
            Ok(info)
        })
    }
    fn upgrade<'a>(&'a self, req: &'a InstallRequest, install_if_missing: bool) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>> {
        Box::pin(async move {
            let (u, name) = self.pick(req).await?;
            let mut info = self.engine(u).upgrade(req, install_if_missing).await?;
            self.used.lock().expect("engine map").insert((req.namespace.clone(), req.release.clone()), u);
            info.engine = name;
            Ok(info)
        })
    }
    fn uninstall<'a>(&'a self, release: &'a str, namespace: &'a str, opts: &'a UninstallOptions) -> BoxFuture<'a, Result<UninstallReport, HelmError>> {
        Box::pin(async move {
            let u = self.owner(release, namespace)?;
            let mut r = self.engine(u).uninstall(release, namespace, opts).await?;
            r.engine = self.name_of(u).await;
            Ok(r)
        })
    }
    fn list<'a>(&'a self, namespace: Option<&'a str>) -> BoxFuture<'a, Result<Vec<ReleaseInfo>, HelmError>> {
        Box::pin(async move {
            // Both engines read the same release Secrets; prefer the binary, as users would.
            let u = match (&self.cli, self.mode) {
                (Some(_), m) if m != EngineMode::Recorded => Used::Cli,
                _ if self.recorded.is_some() => Used::Recorded,
                _ => return Err(self.no_binary()),
            };
            self.engine(u).list(namespace).await
        })
    }
    fn status<'a>(&'a self, release: &'a str, namespace: &'a str) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>> {
        Box::pin(async move {
            let u = self.owner(release, namespace)?;
            let mut info = self.engine(u).status(release, namespace).await?;
            info.engine = self.name_of(u).await;
            Ok(info)
        })
    }
}
