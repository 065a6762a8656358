//! Errors with Helm's own message texts (helm v4 `pkg/action/*`, `pkg/cmd/*`), so scenarios can
//! assert on exactly what a real `helm` prints after `Error: `.

use std::path::PathBuf;

/// What a Helm action failed with. `Display` gives the text a real `helm` prints after `Error: `.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    #[error("INSTALLATION FAILED: {0}")]
    Install(Failure),
    #[error("UPGRADE FAILED: {0}")]
    Upgrade(Failure),
    #[error("uninstall: {0}")]
    Uninstall(Failure),
    /// `helm status` / `helm list`.
    #[error("{0}")]
    Query(Failure),
    /// The recorded-render engine has nothing to install (not a Helm error).
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(
        "the `helm` binary was not found (looked at --helm-binary, $CLEANROOM_HELM, then PATH); install Helm >= 3.8 \
         (https://helm.sh/docs/intro/install/) or point --helm-binary at it, or use recorded renders (--helm recorded)"
    )]
    HelmNotFound,
    /// Neither a recorded render nor a `helm` binary can serve the request (`--helm auto`).
    #[error("{0}")]
    NoEngine(String),
    /// The `helm` binary is older than cleanroom supports (its flags differ).
    #[error(
        "helm {found} is not supported: cleanroom needs helm >= {minimum} (install a current Helm: \
         https://helm.sh/docs/intro/install/)"
    )]
    UnsupportedVersion { found: String, minimum: String },
    /// A flag this helm does not have was asked for (e.g. `--take-ownership` before 3.17).
    #[error("{what} needs helm >= {minimum}, but this helm is {found}")]
    FlagUnsupported { what: String, minimum: String, found: String },
    /// `helm` ran but its output could not be understood, or it could not be started.
    #[error("{command}: {message}")]
    Cli { command: String, message: String },
}

impl HelmError {
    /// The machine's helm cannot do this at all (missing, too old): never a chart's failure, so it must
    /// not satisfy `expect: fails`.
    pub fn is_environment(&self) -> bool {
        matches!(self, HelmError::HelmNotFound | HelmError::NoEngine(_) | HelmError::UnsupportedVersion { .. } | HelmError::FlagUnsupported { .. })
    }

    pub fn failure(&self) -> Option<&Failure> {
        match self {
            HelmError::Install(f) | HelmError::Upgrade(f) | HelmError::Uninstall(f) | HelmError::Query(f) => Some(f),
            _ => None,
        }
    }
}

/// The cause under the action prefix.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("cannot reuse a name that is still in use")]
    NameInUse,
    /// `op` is `install` or `update` (helm v4 lower-cases "unable").
    #[error(
        "unable to continue with {op}: {resource} exists and cannot be imported into the current release: {reason}"
    )]
    Ownership { op: &'static str, resource: String, reason: String },
    /// The API server refused a manifest resource, e.g. a webhook failure
    /// (`Internal error occurred: failed calling webhook ...`).
    #[error("failed to create resource: {0}")]
    Create(String),
    /// A hook failed: `failed pre-install: ...`.
    #[error("failed {event}: {message}")]
    Hook { event: String, message: String },
    #[error("\"{0}\" has no deployed releases")]
    NoDeployedReleases(String),
    #[error("Release not loaded: {0}: release: not found")]
    ReleaseNotLoaded(String),
    #[error("release: not found")]
    NotFound,
    #[error("the release named \"{0}\" is already deleted")]
    AlreadyDeleted(String),
    /// Anything else, with the text as Helm (or the API server) gave it.
    #[error("{0}")]
    Other(String),
}

impl Failure {
    /// Classify a message as `helm` prints it (after the action prefix), so [`HelmCli`](super::HelmCli)
    /// errors compare equal in kind to the recorded-render engine's.
    pub fn from_text(text: &str) -> Failure {
        let t = text.trim();
        if t.contains("cannot reuse a name that is still in use")
            || t.contains("cannot re-use a name that is still in use")
        {
            return Failure::NameInUse;
        }
        if let Some(name) = t.strip_suffix(" has no deployed releases") {
            return Failure::NoDeployedReleases(name.trim_matches('"').to_string());
        }
        if let Some(rest) = t.strip_prefix("Release not loaded: ")
            && let Some(name) = rest.strip_suffix(": release: not found")
        {
            return Failure::ReleaseNotLoaded(name.to_string());
        }
        if t == "release: not found" {
            return Failure::NotFound;
        }
        Failure::Other(t.to_string())
    }
}

/// Problems finding or reading a recorded render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    NoRender(String),
}

/// `checkOwnership` (helm `pkg/action/validate.go`): every missing or wrong key, joined by `; `.
pub fn ownership_problems(
    labels: &serde_json::Value,
    annotations: &serde_json::Value,
    release: &str,
    namespace: &str,
) -> Option<String> {
    fn require(map: &serde_json::Value, k: &str, v: &str) -> Option<String> {
        match map.get(k).and_then(|x| x.as_str()) {
            None => Some(format!("missing key {k:?}: must be set to {v:?}")),
            Some(actual) if actual != v => Some(format!("key {k:?} must equal {v:?}: current value is {actual:?}")),
            Some(_) => None,
        }
    }
    let mut errs = vec![];
    if let Some(e) = require(labels, super::MANAGED_BY_LABEL, "Helm") {
        errs.push(format!("label validation error: {e}"));
    }
    if let Some(e) = require(annotations, super::RELEASE_NAME_ANNOTATION, release) {
        errs.push(format!("annotation validation error: {e}"));
    }
    if let Some(e) = require(annotations, super::RELEASE_NAMESPACE_ANNOTATION, namespace) {
        errs.push(format!("annotation validation error: {e}"));
    }
    (!errs.is_empty()).then(|| format!("invalid ownership metadata; {}", errs.join("; ")))
}

/// `resourceString`: `<Kind> "<name>" in namespace "<ns>"` (empty namespace for cluster-scoped).
pub fn resource_string(kind: &str, name: &str, namespace: &str) -> String {
    format!("{kind} {name:?} in namespace {namespace:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ownership_message_matches_helm() {
        let reason = ownership_problems(&json!({}), &json!(null), "prometheus-stack", "monitoring").unwrap();
        let e = HelmError::Install(Failure::Ownership {
            op: "install",
            resource: resource_string("ServiceAccount", "x", "monitoring"),
            reason,
        });
        assert_eq!(
            e.to_string(),
            "INSTALLATION FAILED: unable to continue with install: ServiceAccount \"x\" in namespace \"monitoring\" exists and cannot be imported into the current release: invalid ownership metadata; label validation error: missing key \"app.kubernetes.io/managed-by\": must be set to \"Helm\"; annotation validation error: missing key \"meta.helm.sh/release-name\": must be set to \"prometheus-stack\"; annotation validation error: missing key \"meta.helm.sh/release-namespace\": must be set to \"monitoring\""
        );
        let wrong = ownership_problems(
            &json!({"app.kubernetes.io/managed-by": "Helm"}),
            &json!({"meta.helm.sh/release-name": "other", "meta.helm.sh/release-namespace": "monitoring"}),
            "r",
            "monitoring",
        );
        assert_eq!(
            wrong.unwrap(),
            "invalid ownership metadata; annotation validation error: key \"meta.helm.sh/release-name\" must equal \"r\": current value is \"other\""
        );
    }

    #[test]
    fn classifies_cli_text() {
        assert!(matches!(Failure::from_text("cannot re-use a name that is still in use"), Failure::NameInUse));
        assert!(
            matches!(Failure::from_text("\"x\" has no deployed releases"), Failure::NoDeployedReleases(n) if n == "x")
        );
        assert!(
            matches!(Failure::from_text("Release not loaded: x: release: not found"), Failure::ReleaseNotLoaded(n) if n == "x")
        );
    }
}
