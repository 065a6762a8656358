//! Kind → API resource resolution for steps, through the cluster's discovery (refreshed when a kind is
//! not found, since a CRD may have just been created).

use cleanroom_core::hints::close_names;
use cleanroom_core::resources::{ResourceCatalog, Resolved};

use super::{StepContext, StepError};

impl StepContext {
    pub async fn refresh_resources(&mut self) -> Result<(), StepError> {
        let catalog = ResourceCatalog::discover(&self.client).await.map_err(StepError::kube("discovering API resources"))?;
        self.resources = Some(catalog);
        Ok(())
    }

    /// Resolve `kind` (Kind, plural or lowercase singular), optionally pinned to `apiVersion`.
    pub async fn resolve(&mut self, api_version: Option<&str>, kind: &str) -> Result<Resolved, StepError> {
        if self.resources.is_none() {
            self.refresh_resources().await?;
        }
        if let Some(r) = self.resources.as_ref().and_then(|c| c.lookup(api_version, kind)) {
            return Ok(r);
        }
        // Maybe a CRD was just created: look again.
        self.refresh_resources().await?;
        let catalog = self.resources.as_ref().expect("just discovered");
        if let Some(r) = catalog.lookup(api_version, kind) {
            return Ok(r);
        }
        let kinds = catalog.kinds();
        let close = close_names(kind, &kinds);
        let hint = if close.is_empty() { String::new() } else { format!("; did you mean {}?", close.join(" or ")) };
        let pinned = api_version.map(|v| format!(" in {v}")).unwrap_or_default();
        Err(StepError::Failed(format!("the server has no resource type `{kind}`{pinned}{hint}")))
    }
}
