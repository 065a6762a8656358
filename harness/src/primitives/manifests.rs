//! `manifests.apply` (server-side apply; CRDs first, then namespaces, then the rest) and `manifests.delete`.

use std::path::Path;

use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::runtime::wait::{await_condition, conditions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome, ops};

/// Where manifests come from: files (relative to the scenario file), inline YAML, or objects.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "ManifestsSource")]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Multi-document YAML text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// Objects written directly in the scenario.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<serde_json::Value>,
    /// Namespace for namespaced objects that name none (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `manifests.delete` only: wait until each object is gone (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
}

impl Source {
    pub fn validate(&self) -> Result<(), String> {
        if self.file.is_none() && self.files.is_empty() && self.inline.is_none() && self.objects.is_empty() {
            return Err("give at least one of `file`, `files`, `inline` or `objects`".into());
        }
        if let Some(text) = &self.inline {
            parse_documents(text).map_err(|e| format!("inline YAML: {e}"))?;
        }
        Ok(())
    }

    /// All documents, in file order, `List`s flattened.
    pub fn load(&self, base: &Path) -> Result<Vec<serde_json::Value>, StepError> {
        let mut docs = Vec::new();
        for f in self.file.iter().chain(self.files.iter()) {
            let path = base.join(f);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| StepError::Failed(format!("cannot read manifest file {}: {e}", path.display())))?;
            docs.extend(parse_documents(&text).map_err(|e| StepError::Failed(format!("{}: {e}", path.display())))?);
        }
        if let Some(text) = &self.inline {
            docs.extend(parse_documents(text).map_err(|e| StepError::Failed(format!("inline YAML: {e}")))?);
        }
        docs.extend(self.objects.iter().cloned());
        Ok(docs)
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self.file.iter().chain(self.files.iter()).cloned().collect();
        if self.inline.is_some() {
            parts.push("inline YAML".into());
        }
        if !self.objects.is_empty() {
            parts.push(format!("{} object(s)", self.objects.len()));
        }
        parts.join(", ")
    }
}

/// Parse multi-document YAML into JSON objects; empty documents are skipped and `kind: List` is flattened.
pub fn parse_documents(text: &str) -> Result<Vec<serde_json::Value>, String> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for d in docs {
        match d {
            serde_json::Value::Null => {}
            serde_json::Value::Object(ref m) if m.get("kind").and_then(|k| k.as_str()) == Some("List") => {
                out.extend(m.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default());
            }
            serde_json::Value::Object(_) => out.push(d),
            other => return Err(format!("a manifest document must be a mapping, found {other}")),
        }
    }
    Ok(out)
}

fn rank(doc: &serde_json::Value) -> u8 {
    match doc.get("kind").and_then(|k| k.as_str()) {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace") => 1,
        _ => 2,
    }
}

/// Server-side apply (field manager `cleanroom`, forced) of every document.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ManifestsApply")]
pub struct Apply(pub Source);

impl Primitive for Apply {
    fn describe(&self) -> String {
        format!("apply of {}", self.0.describe())
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let mut docs = self.0.load(&ctx.base_dir)?;
            docs.sort_by_key(rank); // stable: file order within each rank
            let crds = docs.iter().take_while(|d| rank(d) == 0).count();
            let mut applied = 0;
            for (i, doc) in docs.into_iter().enumerate() {
                let (objref, _) = ops::apply_value(ctx, doc, self.0.namespace.as_deref()).await?;
                applied += 1;
                ctx.observe(format!("applied {applied} object(s), last {}", objref.display()));
                if i + 1 == crds {
                    establish_crds(ctx).await?;
                }
            }
            Ok(StepOutcome::done(format!("applied {applied} object(s) ({crds} CRDs first)")))
        })
    }
}

/// Wait until every CRD this run applied is Established, then until discovery lists its kind in every
/// served version: kube-apiserver publishes a new CRD in discovery asynchronously, a moment after
/// Established, and a custom resource applied in between is refused as an unknown type.
async fn establish_crds(ctx: &mut StepContext) -> Result<(), StepError> {
    let names: Vec<String> =
        ctx.created.iter().filter(|o| o.api.kind == "CustomResourceDefinition").map(|o| o.name.clone()).collect();
    let api: Api<CustomResourceDefinition> = Api::all(ctx.client.clone());
    let mut wanted: Vec<(String, String)> = Vec::new();
    for n in names {
        ctx.observe(format!("CRD {n} to be Established"));
        let crd = await_condition(api.clone(), &n, conditions::is_crd_established())
            .await
            .map_err(|e| StepError::Failed(format!("watching CRD {n}: {e}")))?;
        if let Some(crd) = crd {
            let kind = crd.spec.names.kind.clone();
            wanted.extend(crd.spec.versions.iter().filter(|v| v.served).map(|v| (format!("{}/{}", crd.spec.group, v.name), kind.clone())));
        }
    }
    // Discovery cannot be watched: re-read it with a growing pause (as kubectl's cached discovery does).
    let deadline = std::time::Instant::now() + DISCOVERY_TIMEOUT;
    let mut pause = std::time::Duration::from_millis(20);
    loop {
        ctx.refresh_resources().await?;
        let catalog = ctx.resources.as_ref().expect("just discovered");
        let missing: Vec<String> =
            wanted.iter().filter(|(av, kind)| catalog.lookup(Some(av), kind).is_none()).map(|(av, kind)| format!("{kind} in {av}")).collect();
        if missing.is_empty() {
            return Ok(());
        }
        ctx.observe(format!("discovery to list {}", missing.join(", ")));
        if std::time::Instant::now() >= deadline {
            return Err(StepError::Failed(format!(
                "CRDs are Established but after {} s discovery still does not list {}",
                DISCOVERY_TIMEOUT.as_secs(),
                missing.join(", ")
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(1));
    }
}

/// How long a just-Established CRD may take to appear in discovery.
const DISCOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Delete every document's object (reverse order, CRDs last).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ManifestsDelete")]
pub struct Delete(pub Source);

impl Primitive for Delete {
    fn describe(&self) -> String {
        format!("deletion of {}", self.0.describe())
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let mut docs = self.0.load(&ctx.base_dir)?;
            docs.sort_by_key(rank);
            docs.reverse(); // CRDs last
            let mut deleted = Vec::new();
            for doc in &docs {
                let av = doc.get("apiVersion").and_then(|v| v.as_str()).unwrap_or_default();
                let kind = doc.get("kind").and_then(|v| v.as_str()).unwrap_or_default();
                let name = doc.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or_default();
                let r = match ctx.resolve(Some(av), kind).await {
                    Ok(r) => r,
                    Err(_) => continue, // its CRD is already gone, so is the object
                };
                let ns = r.namespaced.then(|| {
                    doc.pointer("/metadata/namespace")
                        .and_then(|v| v.as_str())
                        .or(self.0.namespace.as_deref())
                        .unwrap_or("default")
                        .to_string()
                });
                if let Some(uid) = ops::delete(&ctx.client, &r, ns.as_deref(), name).await? {
                    deleted.push((r, ns, name.to_string(), uid));
                }
            }
            if self.0.wait.unwrap_or(true) {
                for (r, ns, name, uid) in &deleted {
                    ctx.observe(format!("{} {name} to be gone", r.ar.kind));
                    ops::wait_gone(&ctx.client, r, ns.as_deref(), name, uid).await?;
                }
            }
            if deleted.iter().any(|(r, ..)| r.ar.kind == "CustomResourceDefinition") {
                ctx.refresh_resources().await?;
            }
            Ok(StepOutcome::done(format!("deleted {} of {} object(s)", deleted.len(), docs.len())))
        })
    }
}
