//! `fixtures/renders.yaml`: which recorded render a (chart, version, release, namespace, values)
//! request installs.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::RenderError;
use super::render::ChartMeta;
use super::values::user_values;

/// Catalogue file name under `fixtures/`.
pub const CATALOG_FILE: &str = "renders.yaml";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogEntry {
    pub name: String,
    pub chart: String,
    pub version: String,
    #[serde(default)]
    pub app_version: Option<String>,
    pub release: String,
    pub namespace: String,
    #[serde(default)]
    pub values: Vec<PathBuf>,
    #[serde(default)]
    pub inline_values: Option<Value>,
    #[serde(default)]
    pub set: Vec<String>,
    pub render: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    renders: Vec<CatalogEntry>,
}

/// A render chosen for a request.
#[derive(Debug, Clone)]
pub struct ResolvedRender {
    pub entry: String,
    pub path: PathBuf,
    pub chart: ChartMeta,
}

#[derive(Debug, Clone)]
pub struct RenderCatalog {
    /// The files read, in lookup order (a user's catalogues before the built-in one).
    paths: Vec<PathBuf>,
    /// Entries with their values already merged (paths made absolute).
    entries: Vec<(CatalogEntry, Map<String, Value>)>,
}

/// `oci://reg/x`, `repo/x`, `./charts/x`, `x-1.2.3.tgz` → `x` (plus the version the file name carries).
fn chart_basename(chart: &str) -> String {
    let last = chart.trim_end_matches('/').rsplit('/').next().unwrap_or(chart);
    last.strip_suffix(".tgz").unwrap_or(last).to_string()
}

impl RenderCatalog {
    pub fn load(path: &Path) -> Result<RenderCatalog, RenderError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| RenderError::Io { path: path.to_path_buf(), source })?;
        let file: CatalogFile = serde_saphyr::from_str(&text)
            .map_err(|e| RenderError::Parse { path: path.to_path_buf(), message: e.to_string() })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut entries = vec![];
        for mut e in file.renders {
            e.values = e.values.iter().map(|v| dir.join(v)).collect();
            e.render = dir.join(&e.render);
            let merged = user_values(&e.values, e.inline_values.as_ref(), &e.set)?;
            entries.push((e, merged));
        }
        Ok(RenderCatalog { paths: vec![path.to_path_buf()], entries })
    }

    /// The workspace catalogue: `$CLEANROOM_RENDERS`, else `fixtures/renders.yaml` in the current
    /// directory or an ancestor, else next to this crate's workspace.
    pub fn discover() -> Result<RenderCatalog, RenderError> {
        if let Some(p) = std::env::var_os("CLEANROOM_RENDERS") {
            return Self::load(Path::new(&p));
        }
        let mut candidates = vec![];
        if let Ok(cwd) = std::env::current_dir() {
            candidates.extend(cwd.ancestors().map(|d| d.join("fixtures").join(CATALOG_FILE)));
        }
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(CATALOG_FILE));
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => Self::load(p),
            None => Err(RenderError::NoRender(format!(
                "no render catalogue found (looked for fixtures/{CATALOG_FILE} from the current directory up; set CLEANROOM_RENDERS to its path)"
            ))),
        }
    }

    /// Several catalogues as one; the first that matches a request wins (put the user's first).
    pub fn merged(catalogs: Vec<RenderCatalog>) -> RenderCatalog {
        let mut out = RenderCatalog { paths: vec![], entries: vec![] };
        for c in catalogs {
            out.paths.extend(c.paths);
            out.entries.extend(c.entries);
        }
        out
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The render a request would install, computed from its values as the engine would.
    pub fn lookup_request(&self, req: &crate::InstallRequest) -> Result<ResolvedRender, RenderError> {
        let inline = (!req.values.is_empty()).then(|| Value::Object(req.values.clone()));
        let config = user_values(&req.values_files, inline.as_ref(), &req.set)?;
        self.lookup(&req.chart, req.version.as_deref(), &req.release, &req.namespace, &config)
    }

    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.iter().map(|(e, _)| e)
    }

    /// Find the render for a request. `values` are the request's merged user values.
    pub fn lookup(
        &self,
        chart: &str,
        version: Option<&str>,
        release: &str,
        namespace: &str,
        values: &Map<String, Value>,
    ) -> Result<ResolvedRender, RenderError> {
        let base = chart_basename(chart);
        let found = self.entries.iter().find(|(e, merged)| {
            let name_ok = base == e.chart || base == format!("{}-{}", e.chart, e.version);
            name_ok
                && version.is_none_or(|v| v.trim_start_matches('v') == e.version.trim_start_matches('v'))
                && e.release == release
                && e.namespace == namespace
                && merged == values
        });
        match found {
            Some((e, _)) => Ok(ResolvedRender {
                entry: e.name.clone(),
                path: e.render.clone(),
                chart: ChartMeta {
                    name: e.chart.clone(),
                    version: e.version.clone(),
                    app_version: e.app_version.clone(),
                },
            }),
            None => Err(RenderError::NoRender(self.explain_miss(chart, version, release, namespace, values))),
        }
    }

    // Lists what exists without printing any value (values can hold passwords): keys only.
    fn explain_miss(
        &self,
        chart: &str,
        version: Option<&str>,
        release: &str,
        ns: &str,
        values: &Map<String, Value>,
    ) -> String {
        let mut keys = vec![];
        leaf_keys(values, "", &mut keys);
        let mut msg = format!(
            "no recorded render for chart {chart:?}{} as release {release:?} in namespace {ns:?} with the given values (keys: {}).\nRecorded renders in {}:",
            version.map(|v| format!(" version {v}")).unwrap_or_default(),
            if keys.is_empty() { "none".to_string() } else { keys.join(", ") },
            self.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
        for (e, _) in &self.entries {
            let files: Vec<String> = e.values.iter().map(|p| p.display().to_string()).collect();
            let set: Vec<&str> = e.set.iter().map(|s| s.split_once('=').map(|(k, _)| k).unwrap_or(s)).collect();
            msg.push_str(&format!(
                "\n  - {}: {} {} release {} namespace {}, values files [{}]{}, --set keys [{}] -> {}",
                e.name,
                e.chart,
                e.version,
                e.release,
                e.namespace,
                files.join(", "),
                if e.inline_values.is_some() { " + inline values" } else { "" },
                set.join(", "),
                e.render.display()
            ));
        }
        msg.push_str(
            "\nTo record a new one, render the chart with a real Helm v4 \
             (`helm template <release> <chart> --version <v> -n <namespace> --include-crds -f <values> [--set ...] > fixtures/<chart>/rendered/<name>.yaml`) \
             and add an entry to a renders.yaml next to your scenarios (or `cleanroom record`, which does both); or run with a real `helm` (`--helm cli`).",
        );
        msg
    }
}

fn leaf_keys(m: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in m {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Object(inner) if !inner.is_empty() => leaf_keys(inner, &key, out),
            _ => out.push(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> RenderCatalog {
        RenderCatalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/renders.yaml")).unwrap()
    }

    #[test]
    fn resolves_the_recorded_variants() {
        let c = catalog();
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/kube-prometheus-stack");
        let storage = user_values(&[fx.join("values/storage.yaml")], None, &[]).unwrap();
        let r = c
            .lookup(
                "prometheus-community/kube-prometheus-stack",
                Some("88.5.3"),
                "prometheus-stack",
                "monitoring",
                &storage,
            )
            .unwrap();
        assert!(r.path.ends_with("rendered/storage.yaml"));
        assert_eq!(r.chart.app_version.as_deref(), Some("v0.93.1"));
        // The same values given inline (as a scenario's `values:` map) match too.
        let inline = Value::Object(storage.clone());
        let same = user_values(&[], Some(&inline), &[]).unwrap();
        assert!(c.lookup("kube-prometheus-stack", None, "prometheus-stack", "monitoring", &same).is_ok());

        let set: Vec<String> =
            std::fs::read_to_string(fx.join("values/no-storage-set.txt")).unwrap().lines().map(String::from).collect();
        let nos = user_values(&[fx.join("values/storage.yaml")], None, &set).unwrap();
        let r = c.lookup("kube-prometheus-stack", None, "prometheus-stack", "monitoring", &nos).unwrap();
        assert!(r.path.ends_with("rendered/no-storage.yaml"));

        let r = c.lookup("kube-prometheus-stack", None, "prometheus-stack", "monitoring", &Map::new()).unwrap();
        assert!(r.path.ends_with("rendered/defaults.yaml"));
        for (e, _) in &c.entries {
            assert!(e.render.is_file(), "{}", e.render.display());
        }
    }

    #[test]
    fn a_miss_names_the_renders_without_values() {
        let c = catalog();
        let mut v = Map::new();
        v.insert("grafana".into(), serde_json::json!({"adminPassword": "hunter2"}));
        let e = c.lookup("kube-prometheus-stack", None, "prometheus-stack", "monitoring", &v).unwrap_err().to_string();
        assert!(e.contains("grafana.adminPassword") && !e.contains("hunter2"), "{e}");
        assert!(e.contains("kube-prometheus-stack/storage") && e.contains("helm template"), "{e}");
        let e = c.lookup("kube-prometheus-stack", None, "other", "monitoring", &Map::new()).unwrap_err();
        assert!(e.to_string().contains("release \"other\""));
    }
}
