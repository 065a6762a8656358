//! Parsing a recorded render: `helm template --include-crds` output, i.e. `---\n# Source: <path>\n<doc>`
//! for the CRDs (verbatim `crds/` files), then the templates (the release manifest), then the hooks.

use serde_json::Value;

use super::order::{INSTALL_ORDER, sort_by_kind};

pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
pub const HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
pub const HOOK_DELETE_ANNOTATION: &str = "helm.sh/hook-delete-policy";
pub const RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";

/// One document of a render, with the `# Source:` path it came from.
#[derive(Clone)]
pub struct RenderedDoc {
    pub source: String,
    /// The document text as rendered (without the `# Source:` line).
    pub raw: String,
    pub object: Value,
}

impl std::fmt::Debug for RenderedDoc {
    // Renders contain Secrets (e.g. grafana's admin password): print identity only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} from {}", self.kind(), self.name(), self.source)
    }
}

impl RenderedDoc {
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.object["metadata"]["annotations"][key].as_str()
    }
}

/// A hook: a rendered document carrying `helm.sh/hook`.
#[derive(Debug, Clone)]
pub struct HookDoc {
    pub doc: RenderedDoc,
    pub events: Vec<String>,
    pub weight: i64,
    pub delete_policies: Vec<String>,
}

impl HookDoc {
    pub fn has_event(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
    pub fn has_policy(&self, policy: &str) -> bool {
        self.delete_policies.iter().any(|p| p == policy)
    }
}

/// Chart identity as read from a render (or given by a catalogue entry).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ChartMeta {
    pub name: String,
    pub version: String,
    #[serde(default, rename = "appVersion", skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Render {
    pub crds: Vec<RenderedDoc>,
    /// Manifest resources in the render's order (Helm already sorted them by InstallOrder).
    pub templates: Vec<RenderedDoc>,
    pub hooks: Vec<HookDoc>,
    /// The templates section as Helm stores it in the release's `manifest` field.
    pub manifest: String,
    pub chart: Option<ChartMeta>,
}

impl Render {
    /// Templates sorted by Helm's InstallOrder (stable, so a recorded render keeps its order).
    pub fn templates_in_install_order(&self) -> Vec<&RenderedDoc> {
        let mut v: Vec<&RenderedDoc> = self.templates.iter().collect();
        sort_by_kind(&mut v, INSTALL_ORDER, |d| d.kind());
        v
    }
}

/// A `crds/` file is at `<chart>[/charts/<sub>]/crds/<file>`; templates live under `templates/`.
fn is_crd_source(source: &str) -> bool {
    let segs: Vec<&str> = source.split('/').collect();
    segs.len() >= 2 && segs[segs.len() - 2] == "crds" && !segs.contains(&"templates")
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

pub fn parse_render(text: &str) -> Result<Render, String> {
    let mut chunks: Vec<String> = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            chunks.push(String::new());
        } else {
            chunks.last_mut().expect("non-empty").push_str(line);
        }
    }
    let mut render = Render { crds: vec![], templates: vec![], hooks: vec![], manifest: String::new(), chart: None };
    // A CRD file starting with a comment and `---` leaves its `# Source:` in a comment-only document.
    let mut pending_source: Option<String> = None;
    for chunk in chunks {
        let mut source = None;
        let mut raw = String::new();
        for line in chunk.split_inclusive('\n') {
            match line.strip_prefix("# Source: ") {
                Some(s) if source.is_none() => source = Some(s.trim_end().to_string()),
                _ => raw.push_str(line),
            }
        }
        let only_comments = raw.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        if only_comments {
            if source.is_some() {
                pending_source = source;
            }
            continue;
        }
        let source = match source {
            Some(s) => {
                pending_source = None;
                s
            }
            None => pending_source.take().unwrap_or_default(),
        };
        let object: Value =
            serde_saphyr::from_str(&raw).map_err(|e| format!("cannot parse the document from {source:?}: {e}"))?;
        if object.is_null() {
            continue;
        }
        if !object.is_object() || object["kind"].as_str().is_none() {
            return Err(format!("the document from {source:?} is not a Kubernetes object (no kind)"));
        }
        let doc = RenderedDoc { source, raw, object };
        if is_crd_source(&doc.source) {
            render.crds.push(doc);
        } else if let Some(events) = doc.annotation(HOOK_ANNOTATION) {
            let events = split_list(events);
            let weight = doc.annotation(HOOK_WEIGHT_ANNOTATION).and_then(|w| w.trim().parse().ok()).unwrap_or(0);
            let mut delete_policies = doc.annotation(HOOK_DELETE_ANNOTATION).map(split_list).unwrap_or_default();
            // Helm's default when no policy is given.
            if delete_policies.is_empty() {
                delete_policies.push("before-hook-creation".into());
            }
            render.hooks.push(HookDoc { doc, events, weight, delete_policies });
        } else {
            render.manifest.push_str(&format!("---\n# Source: {}\n{}", doc.source, doc.raw));
            render.templates.push(doc);
        }
    }
    render.manifest = format!("{}\n", render.manifest.trim());
    render.chart = chart_from_docs(&render);
    Ok(render)
}

/// Chart name from the first template's `# Source: <chart>/templates/...`, version from the
/// `helm.sh/chart` (or `chart`) label `<name>-<version>` of a top-level template.
fn chart_from_docs(render: &Render) -> Option<ChartMeta> {
    let all = render.templates.iter().chain(render.hooks.iter().map(|h| &h.doc));
    let name = all.clone().find_map(|d| d.source.split_once("/templates/").map(|(c, _)| c.to_string()))?;
    let name = name.split('/').next().unwrap_or(&name).to_string();
    let prefix = format!("{name}/templates/");
    let version = all
        .filter(|d| d.source.starts_with(&prefix))
        .find_map(|d| {
            let labels = &d.object["metadata"]["labels"];
            ["helm.sh/chart", "chart"]
                .iter()
                .find_map(|k| labels[*k].as_str().and_then(|v| v.strip_prefix(&format!("{name}-")).map(str::to_string)))
        })
        .unwrap_or_default();
    Some(ChartMeta { name, version, app_version: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "---\n# Source: c/crds/w.yaml\n# https://example\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  x: [=, a]\n---\n# Source: c/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels:\n    helm.sh/chart: c-1.2.3\n---\n# Source: c/templates/empty.yaml\n# nothing\n---\n# Source: c/templates/job.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n  annotations:\n    \"helm.sh/hook\": pre-install, post-upgrade\n    \"helm.sh/hook-weight\": \"-5\"\n";

    #[test]
    fn splits_sections() {
        let r = parse_render(SAMPLE).unwrap();
        assert_eq!(r.crds.len(), 1);
        assert_eq!(r.crds[0].source, "c/crds/w.yaml");
        assert_eq!(r.crds[0].object["spec"]["x"][0], "=");
        assert_eq!(r.templates.len(), 1);
        assert_eq!(r.hooks.len(), 1);
        assert_eq!(r.hooks[0].events, ["pre-install", "post-upgrade"]);
        assert_eq!(r.hooks[0].weight, -5);
        assert_eq!(r.hooks[0].delete_policies, ["before-hook-creation"]);
        assert!(r.manifest.starts_with("---\n# Source: c/templates/cm.yaml\napiVersion: v1\n"));
        assert_eq!(r.chart, Some(ChartMeta { name: "c".into(), version: "1.2.3".into(), app_version: None }));
    }
}
