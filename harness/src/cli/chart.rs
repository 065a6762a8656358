//! `cleanroom chart PATH|REPO/NAME|oci://…`: the zero-config lifecycle check of one chart, as
//! chart-testing's `ct install` does it, then the oracle. Per values set (the chart's `ci/*-values.yaml`,
//! else `-f`/`--set`, else the defaults) it writes an ordinary scenario built from existing primitives —
//! snapshot → install --wait → wait.release → helm.test → upgrade to itself (nothing may change) →
//! uninstall → oracle.assert-clean (minus `--allow`) → cluster.reset to the snapshot — and runs them all
//! through `run`'s machinery, so reports, exit codes and interrupts are the same.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};

use super::run::{Execution, HelmArgs, execute, new_run_id};
use super::cluster_args::ClusterArgs;
use super::chart_source::{ChartSource, check_values_file};
use super::{CliError, EXIT_USAGE};
use crate::oracle::ChurnRule;
use crate::scenario;

#[derive(Debug, Args)]
pub struct ChartArgs {
    /// Values (`-f`, `--set`) are used when the chart has no `ci/*-values.yaml`.
    #[command(flatten)]
    source: ChartSource,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Release name (default: the chart's name).
    #[arg(long)]
    release: Option<String>,
    /// Namespace (default: a fresh one per values set, removed by the final purge).
    #[arg(long)]
    namespace: Option<String>,
    /// Expected residue: a YAML list (`allow: [{kind, namespace, name, reason}]`, `*` globs) not counted as leftovers.
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
    /// Install this chart version first, then upgrade to `--version` (repository charts).
    #[arg(long, value_name = "VERSION")]
    upgrade_from: Option<String>,
    /// Timeout of the install, upgrade and uninstall steps.
    #[arg(long, default_value = "5m")]
    timeout: String,
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    #[arg(long)]
    keep: bool,
    #[arg(long)]
    allow_destructive: bool,
    #[command(flatten)]
    helm: HelmArgs,
}

/// One entry of `--allow`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Allowed {
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFile {
    allow: Vec<Allowed>,
}

/// A values set: its name (scenario suffix) and files.
struct ValuesSet {
    name: String,
    files: Vec<PathBuf>,
    set: Vec<String>,
}

fn usage(m: impl Into<String>) -> CliError {
    CliError::Usage(m.into())
}


/// The chart's name: `Chart.yaml`'s for a directory, else the reference's last part.
fn chart_name(chart: &str) -> String {
    let p = Path::new(chart);
    if p.is_dir()
        && let Ok(text) = std::fs::read_to_string(p.join("Chart.yaml"))
        && let Ok(v) = serde_saphyr::from_str::<Value>(&text)
        && let Some(n) = v["name"].as_str()
    {
        return n.to_string();
    }
    let last = chart.trim_end_matches('/').rsplit('/').next().unwrap_or(chart);
    let last = last.strip_suffix(".tgz").unwrap_or(last);
    // `name-1.2.3.tgz` → `name`
    match last.rfind('-') {
        Some(i) if last[i + 1..].starts_with(|c: char| c.is_ascii_digit()) && chart.ends_with(".tgz") => last[..i].to_string(),
        _ => last.to_string(),
    }
}



/// What each values set installs: `ci/*-values.yaml` (chart-testing's convention) or the command line.
fn values_sets(a: &ChartArgs) -> Result<Vec<ValuesSet>, CliError> {
    let ci = Path::new(&a.source.chart).join("ci");
    let mut sets = vec![];
    if ci.is_dir() && a.source.values.is_empty() && a.source.set.is_empty() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&ci)
            .map_err(|e| usage(format!("{}: {e}", ci.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("-values.yaml")))
            .collect();
        files.sort();
        for f in files {
            check_values_file(&f)?;
            let stem = f.file_name().and_then(|n| n.to_str()).unwrap_or("").trim_end_matches("-values.yaml").to_string();
            sets.push(ValuesSet { name: stem, files: vec![f], set: vec![] });
        }
    }
    if sets.is_empty() {
        let name = if a.source.values.is_empty() && a.source.set.is_empty() { "defaults" } else { "values" };
        sets.push(ValuesSet { name: name.into(), files: a.source.values.clone(), set: a.source.set.clone() });
    }
    Ok(sets)
}

fn abs(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A DNS label: lower case, `-`, at most 63 characters.
fn dns_label(s: &str) -> String {
    let mut out: String = s.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    out.truncate(63);
    out.trim_matches('-').to_string()
}

fn allow_rules(a: &ChartArgs) -> Result<Vec<ChurnRule>, CliError> {
    let Some(f) = &a.allow else { return Ok(vec![]) };
    let text = std::fs::read_to_string(f).map_err(|e| usage(format!("--allow {}: {e}", f.display())))?;
    let file: AllowFile = serde_saphyr::from_str(&text).map_err(|e| usage(format!("--allow {} does not parse: {e}", f.display())))?;
    let rules = file
        .allow
        .into_iter()
        .map(|x| {
            serde_json::from_value::<ChurnRule>(json!({"group": x.group, "kind": x.kind, "namespace": x.namespace, "name": x.name, "reason": x.reason}))
                .map_err(|e| usage(format!("--allow {}: {e}", f.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rules)
}

/// The scenario for one values set, as the YAML (JSON) a user could have written.
fn scenario_for(a: &ChartArgs, chart: &str, release: &str, ns: &str, set: &ValuesSet, allow: &[ChurnRule]) -> Value {
    let mut install = json!({"release": release, "chart": chart, "namespace": ns, "createNamespace": true, "wait": true});
    let files: Vec<String> = set.files.iter().map(|f| abs(f).display().to_string()).collect();
    if !files.is_empty() {
        install["valuesFiles"] = json!(files);
    }
    if !set.set.is_empty() {
        // `${` would be read as a scenario variable.
        install["set"] = json!(set.set.iter().map(|s| s.replace("${", "$${")).collect::<Vec<_>>());
    }
    let mut target = install.clone();
    target.as_object_mut().expect("object").remove("createNamespace");
    if let Some(v) = &a.source.version {
        target["version"] = json!(v);
    }
    let mut steps = vec![json!({"name": "baseline", "oracle.snapshot": {"name": "baseline"}})];
    match &a.upgrade_from {
        Some(from) => {
            install["version"] = json!(from);
            steps.push(json!({"name": format!("install {release} {chart} {from}"), "helm.install": install, "timeout": a.timeout}));
            let mut up = target.clone();
            up["wait"] = json!(true);
            steps.push(json!({"name": format!("upgrade {release} from {from}"), "helm.upgrade": up, "timeout": a.timeout}));
        }
        None => {
            if let Some(v) = &a.source.version {
                install["version"] = json!(v);
            }
            steps.push(json!({"name": format!("install {release}"), "helm.install": install, "timeout": a.timeout}));
        }
    }
    steps.push(json!({"name": "workloads ready, jobs complete", "wait.release": {"release": release, "namespace": ns}, "timeout": a.timeout}));
    steps.push(json!({"name": "helm test", "helm.test": {"release": release, "namespace": ns}, "timeout": a.timeout}));
    let mut same = target.clone();
    same["expectUnchanged"] = json!(true);
    steps.push(json!({"name": "upgrade to itself changes nothing", "helm.upgrade": same, "timeout": a.timeout}));
    steps.push(json!({"name": "uninstall", "helm.uninstall": {"release": release, "namespace": ns, "wait": true}, "timeout": a.timeout}));
    steps.push(json!({"name": "nothing left beyond the allow-list", "oracle.assert-clean": {"baseline": "baseline", "ignore": allow}, "timeout": "2m"}));
    json!({
        "name": format!("{}-{}", dns_label(&chart_name(chart)), set.name),
        "description": format!("cleanroom chart {chart}: values set {}", set.name),
        "steps": steps,
        "finally": [
            {"name": "purge what was left", "cluster.reset": {"baseline": "baseline"}, "timeout": "3m"},
        ],
    })
}

pub async fn chart(a: ChartArgs) -> Result<i32, CliError> {
    a.source.check()?;
    if a.upgrade_from.is_some() && a.source.is_local() {
        return Err(usage("--upgrade-from needs a repository or OCI chart (a local chart has one version)"));
    }
    if let Err(e) = cleanroom_core::duration::parse_duration(&a.timeout) {
        return Err(usage(format!("--timeout {}: {e}", a.timeout)));
    }
    let sets = values_sets(&a)?;
    let allow = allow_rules(&a)?;
    let chart_ref = a.source.reference();
    let release = dns_label(&a.release.clone().unwrap_or_else(|| chart_name(&a.source.chart)));
    let run_id = new_run_id();
    let dir = a.report_dir.join("chart-scenarios");
    std::fs::create_dir_all(&dir).map_err(|e| CliError::Other(format!("{}: {e}", dir.display())))?;
    let mut selected = vec![];
    for (i, set) in sets.iter().enumerate() {
        let ns = match &a.namespace {
            Some(n) => n.clone(),
            // Fresh per values set, and unique per run on shared clusters.
            None => dns_label(&format!("{}-{}-{}", &release[..release.len().min(40)], i + 1, &run_id[run_id.len() - 4..])),
        };
        let s = scenario_for(&a, &chart_ref, &release, &ns, set, &allow);
        let path = dir.join(format!("{}.yaml", s["name"].as_str().unwrap_or("chart")));
        std::fs::write(&path, serde_json::to_string_pretty(&s).expect("json")).map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
        match scenario::load_file(&path) {
            Ok(sc) => selected.push(sc),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_USAGE);
            }
        }
    }
    let options = a.cluster.options(a.helm.options(None)?, [])?;
    let how = Execution { provider: &a.cluster.provider, options, parallel: 1, durations: None, report_dir: &a.report_dir, keep: a.keep, keep_on_failure: false, allow_destructive: a.allow_destructive };
    execute(&selected, &how, &run_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        assert_eq!(chart_name("prometheus-community/kube-prometheus-stack"), "kube-prometheus-stack");
        assert_eq!(chart_name("oci://ghcr.io/x/podinfo"), "podinfo");
        assert_eq!(chart_name("charts/web-1.2.3.tgz"), "web");
        assert_eq!(dns_label("My_Chart.x"), "my-chart-x");
    }
}
