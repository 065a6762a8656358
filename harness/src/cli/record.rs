//! `cleanroom record CHART [--version V] [-f F]... [--set K=V]... --release R --namespace N [--out DIR]`:
//! render a chart once with the real helm (`helm template --include-crds`) and add the render to the
//! renders catalogue next to the scenarios, so later runs install it hermetically (no helm, no network).

use std::path::{Component, Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::chart_source::ChartSource;
use super::{CliError, EXIT_OK};
use crate::helm::{HelmCli, InstallRequest, find_helm};

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    source: ChartSource,
    #[arg(long)]
    release: String,
    #[arg(long)]
    namespace: String,
    /// Where the render and `renders.yaml` go (default: the scenarios directory, which `run` reads).
    #[arg(long, default_value = "scenarios")]
    out: PathBuf,
    /// The helm binary (default: $CLEANROOM_HELM, then `helm` on PATH).
    #[arg(long)]
    helm_binary: Option<PathBuf>,
}

/// `to` relative to directory `from` (both made absolute), for paths written into the catalogue.
fn relative(to: &Path, from: &Path) -> PathBuf {
    let (to, from) = (std::path::absolute(to).unwrap_or(to.to_path_buf()), std::path::absolute(from).unwrap_or(from.to_path_buf()));
    let (t, f): (Vec<Component>, Vec<Component>) = (to.components().collect(), from.components().collect());
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

pub async fn record(a: RecordArgs) -> Result<i32, CliError> {
    a.source.check()?;
    let chart = a.source.reference();
    let Some(bin) = find_helm(a.helm_binary.as_deref()) else {
        return Err(CliError::Environment(crate::helm::HelmError::HelmNotFound.to_string()));
    };
    let helm = HelmCli::default().with_binary(bin);
    let env_err = |e: crate::helm::HelmError| if e.is_environment() { CliError::Environment(e.to_string()) } else { CliError::Other(e.to_string()) };
    let meta = helm.show_chart(&chart, a.source.version.as_deref()).await.map_err(env_err)?;
    let (name, version) = (meta["name"].as_str().unwrap_or_default().to_string(), meta["version"].as_str().unwrap_or_default().to_string());
    let mut req = InstallRequest::new(&a.release, &a.namespace, &chart);
    req.version = a.source.version.clone().or(Some(version.clone()));
    req.values_files = a.source.values.clone();
    req.set = a.source.set.clone();
    let text = helm.template(&req).await.map_err(env_err)?;

    let catalogue = a.out.join("renders.yaml");
    let existing = std::fs::read_to_string(&catalogue).unwrap_or_default();
    // The entry name is unique in the catalogue: <chart>/<release>[-N].
    let mut entry = format!("{name}/{}", a.release);
    let mut n = 1;
    while existing.contains(&format!("\"name\":\"{entry}\"")) {
        n += 1;
        entry = format!("{name}/{}-{n}", a.release);
    }
    let render = a.out.join("renders").join(format!("{}.yaml", entry.replace('/', "-")));
    let io = |p: &Path, e: std::io::Error| CliError::Other(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(render.parent().expect("has a parent")).map_err(|e| io(&render, e))?;
    std::fs::write(&render, &text).map_err(|e| io(&render, e))?;
    let mut e = json!({
        "name": entry,
        "chart": name,
        "version": version,
        "release": a.release,
        "namespace": a.namespace,
        "render": relative(&render, &a.out),
    });
    if let Some(app) = meta["appVersion"].as_str() {
        e["appVersion"] = json!(app);
    }
    if !a.source.values.is_empty() {
        e["values"] = json!(a.source.values.iter().map(|v| relative(v, &a.out)).collect::<Vec<_>>());
    }
    if !a.source.set.is_empty() {
        e["set"] = json!(a.source.set);
    }
    let mut out = if existing.trim().is_empty() {
        "# Recorded renders (`cleanroom record`): which render a Helm step with this chart, version, release,\n# namespace and values installs. Paths are relative to this file.\nrenders:\n".to_string()
    } else {
        existing.clone()
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    // One flow-style line per entry (JSON is YAML).
    out.push_str(&format!("  - {}\n", serde_json::to_string(&e).expect("json")));
    // Written atomically: a half-written catalogue would break every later run.
    let tmp = catalogue.with_extension("yaml.tmp");
    std::fs::write(&tmp, &out).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &catalogue).map_err(|e| io(&catalogue, e))?;
    let objects = crate::helm::parse_render(&text).map(|r| r.crds.len() + r.templates.len() + r.hooks.len()).unwrap_or(0);
    println!("recorded {entry}: {name} {version}, {objects} objects -> {} (catalogue {})", render.display(), catalogue.display());
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_paths() {
        assert_eq!(super::relative(std::path::Path::new("/a/b/c.yaml"), std::path::Path::new("/a/d")), std::path::PathBuf::from("../b/c.yaml"));
        assert_eq!(super::relative(std::path::Path::new("/a/d/r/x.yaml"), std::path::Path::new("/a/d")), std::path::PathBuf::from("r/x.yaml"));
    }
}
