//! Safety on clusters cleanroom did not create: destructive steps (`purge.*`, `sabotage.*`, `cluster.reset`,
//! node operations, `helm.uninstall` of a release the run did not install) refuse to run there unless the
//! user said so (`--allow-destructive`, or the context listed in `CLEANROOM_ALLOW_CONTEXTS`). The cluster's
//! identity — the uid of namespace `kube-system` — is recorded at start and checked before every destructive
//! step, so a kubeconfig that changes under a run cannot redirect it to another cluster.

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

use crate::primitives::{Action, StepContext};

/// Contexts where destructive steps are allowed without `--allow-destructive` (comma-separated).
pub const ALLOW_CONTEXTS_ENV: &str = "CLEANROOM_ALLOW_CONTEXTS";

/// How a run may act on a cluster it did not create.
#[derive(Debug, Clone)]
pub struct Guard {
    /// The context, as the user knows it.
    pub context: String,
    /// `--allow-destructive`, or the context is listed in `CLEANROOM_ALLOW_CONTEXTS`.
    pub allowed: bool,
    /// uid of namespace `kube-system` when the run started.
    pub identity: Option<String>,
    /// The kubeconfig tools (`kubectl`, `helm`, scripts) read, and the server its context named at start.
    pub kubeconfig: Option<(std::path::PathBuf, Option<String>)>,
}

impl Guard {
    pub async fn new(client: &kube::Client, context: &str, kubeconfig: Option<&std::path::Path>, allow_flag: bool) -> Guard {
        let listed = std::env::var(ALLOW_CONTEXTS_ENV)
            .map(|v| v.split(',').map(str::trim).any(|c| !c.is_empty() && c == context))
            .unwrap_or(false);
        Guard {
            context: context.to_string(),
            allowed: allow_flag || listed,
            identity: identity(client).await,
            kubeconfig: kubeconfig.map(|p| (p.to_path_buf(), server_of(p, context))),
        }
    }

    /// Why `step` must not run, if it must not.
    pub async fn refuse(&self, action: &Action, ctx: &StepContext) -> Option<String> {
        if !is_destructive(action, ctx) {
            return None;
        }
        if !self.allowed {
            return Some(format!(
                "refusing `{}` on context `{}`: cleanroom did not create this cluster, and the step deletes or plants objects; \
                 pass --allow-destructive, or add the context to {ALLOW_CONTEXTS_ENV}",
                action.name(),
                self.context
            ));
        }
        if let Some((path, server)) = &self.kubeconfig {
            let now = server_of(path, &self.context);
            if &now != server {
                return Some(format!(
                    "refusing `{}`: {} now points context `{}` at {} (it was {} when the run started): the cluster changed under the run",
                    action.name(),
                    path.display(),
                    self.context,
                    now.as_deref().unwrap_or("nothing"),
                    server.as_deref().unwrap_or("nothing")
                ));
            }
        }
        let now = identity(&ctx.client).await;
        if now != self.identity {
            return Some(format!(
                "refusing `{}`: the cluster changed under the run (namespace kube-system uid {} at start, {} now): \
                 the kubeconfig or context points elsewhere",
                action.name(),
                self.identity.as_deref().unwrap_or("unknown"),
                now.as_deref().unwrap_or("unreachable")
            ));
        }
        None
    }
}

/// The API server a kubeconfig's context (or its current context) points at.
pub fn server_of(path: &std::path::Path, context: &str) -> Option<String> {
    let kc = kube::config::Kubeconfig::read_from(path).ok()?;
    let ctx_name = if context == "(current)" { kc.current_context.clone()? } else { context.to_string() };
    let cluster = kc.contexts.iter().find(|c| c.name == ctx_name)?.context.as_ref()?.cluster.clone();
    kc.clusters.iter().find(|c| c.name == cluster)?.cluster.as_ref()?.server.clone()
}

pub async fn identity(client: &kube::Client) -> Option<String> {
    Api::<Namespace>::all(client.clone()).get_opt("kube-system").await.ok().flatten().and_then(|n| n.metadata.uid)
}

/// Steps that delete or plant what the run may not own.
pub fn is_destructive(action: &Action, ctx: &StepContext) -> bool {
    let name = action.name();
    match action {
        Action::HelmUninstall(u) => !ctx.installed_releases.iter().any(|(ns, r)| *r == u.release && ns == &u.namespace),
        Action::NodeAssertClean(_) => false,
        _ => name.starts_with("purge.") || name.starts_with("sabotage.") || name == "cluster.reset" || name.starts_with("node."),
    }
}
