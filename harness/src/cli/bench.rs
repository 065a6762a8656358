//! `cleanroom bench`: printed, never asserted.
//! - inventory + diff of an embedded cluster holding N objects over many resource types (target < 1 s
//!   for 10k, < 2 s for 100k);
//! - condition-to-step latency of a watch-based wait: status patched → step returns (target p95 < 50 ms);
//! - harness overhead per step: the runner around a primitive vs the primitive alone (target < 5 ms);
//! - what `oracle.assert-clean`'s settle adds on a quiet cluster: settling vs `settle: 0s` (target < 20 ms).

use std::time::{Duration, Instant};

use clap::Args;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;

use super::{CliError, EXIT_OK};
use crate::oracle;
use crate::primitives::{self, Capabilities, Primitive, StepContext, manifests, wait};
use crate::providers::sim::SimProvider;
use crate::scenario::parse_str;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Objects to create for the inventory benchmark.
    #[arg(long, default_value_t = 10_000)]
    pub objects: usize,
    /// Iterations of the wait-latency and overhead benchmarks.
    #[arg(long, default_value_t = 50)]
    pub iterations: usize,
    /// Instead: run the scenario suite serially and with `--parallel N`, and print both wall times.
    #[arg(long, value_name = "N")]
    pub suite_parallel: Option<u16>,
    /// Scenarios directory for `--suite-parallel` and `--providers`.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: std::path::PathBuf,
    /// Instead: run the scenario suite on each provider (e.g. `sim,kwok`) and print every scenario's wall
    /// time side by side; with kwok, first time one cluster's create -> Ready.
    #[arg(long, value_delimiter = ',', value_parser = ["sim", "kwok"])]
    pub providers: Vec<String>,
    /// Where the kwok provider finds its binaries (as `cleanroom run --tools`).
    #[arg(long)]
    pub tools: Option<std::path::PathBuf>,
}

/// Wall time of `cleanroom run --all` serially and with `--parallel n` (each a child process, so both
/// start from the same state); the outcomes must agree.
fn suite(n: u16, scenarios: &std::path::Path) -> Result<i32, CliError> {
    let exe = std::env::current_exe().map_err(err)?;
    let tmp = tempfile::tempdir().map_err(err)?;
    let mut lines = Vec::new();
    for parallel in [1, n] {
        let started = Instant::now();
        let out = std::process::Command::new(&exe)
            .args(["run", "--all", "--parallel", &parallel.to_string(), "--scenarios"])
            .arg(scenarios)
            // The parallel run starts the longest scenarios first, by the serial run's durations.
            .args(if parallel > 1 { vec!["--durations".into(), tmp.path().join("p1/latest/report.json").into_os_string()] } else { vec![] })
            .arg("--report-dir")
            .arg(tmp.path().join(format!("p{parallel}")))
            .env("CI", "1")
            .output()
            .map_err(err)?;
        let secs = started.elapsed().as_secs_f64();
        let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        if !last.contains(" passed, ") {
            return Err(CliError::Other(format!(
                "`cleanroom run --all --parallel {parallel}` gave no result ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        println!("suite --parallel {parallel}: {secs:.1} s wall ({last})");
        lines.push((secs, last));
    }
    println!("speed-up with --parallel {n}: {:.2}x (target >= 1.6x on 2 cores)", lines[0].0 / lines[1].0);
    if lines[0].1 != lines[1].1 {
        println!("outcomes differ: `{}` vs `{}`", lines[0].1, lines[1].1);
        return Ok(super::EXIT_FAILED);
    }
    Ok(EXIT_OK)
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: probes.bench.cleanroom.dev }
spec:
  group: bench.cleanroom.dev
  scope: Namespaced
  names: { kind: Probe, plural: probes, singular: probe, listKind: ProbeList }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
"#;

fn probe_ar() -> ApiResource {
    ApiResource {
        group: "bench.cleanroom.dev".into(),
        version: "v1".into(),
        api_version: "bench.cleanroom.dev/v1".into(),
        kind: "Probe".into(),
        plural: "probes".into(),
    }
}

fn err(e: impl std::fmt::Display) -> CliError {
    CliError::Other(e.to_string())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// One object of the i-th kind in a round-robin over several resource types.
fn object(i: usize) -> serde_json::Value {
    let ns = format!("bench-{}", i % 10);
    let name = format!("o-{i}");
    let meta = serde_json::json!({"name": name, "namespace": ns, "labels": {"bench": "yes", "n": (i % 97).to_string()}});
    match i % 8 {
        0 => serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}),
        1 => serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}),
        2 => serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
              "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        3 => serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
              "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}),
        4 => serde_json::json!({"apiVersion": "bench.cleanroom.dev/v1", "kind": "Probe", "metadata": meta, "spec": {"i": i}}),
        5 => serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": meta,
              "spec": {"clusterIP": "None", "ports": [{"port": 80}], "selector": {"app": name}}}),
        6 => serde_json::json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
              "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}}}),
        _ => serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
              "spec": {"podSelector": {"matchLabels": {"app": name}}}}),
    }
}

pub async fn run(a: BenchArgs) -> Result<i32, CliError> {
    if let Some(n) = a.suite_parallel {
        return suite(n, &a.scenarios);
    }
    if !a.providers.is_empty() {
        return super::bench_providers::run(&a.providers, &a.scenarios, a.tools.as_deref()).await;
    }
    println!("provider: sim (embedded, in-process)");
    let sim = SimProvider::start("bench", 2).await?;
    let client = sim.client();
    let mut ctx = StepContext::new(client.clone(), "sim", Capabilities::default(), "bench");
    let mut nss = String::new();
    for n in 0..10 {
        nss += &format!("---\napiVersion: v1\nkind: Namespace\nmetadata: {{ name: bench-{n} }}\n");
    }
    let setup = manifests::Source { inline: Some(format!("{CRD}{nss}")), ..Default::default() };
    manifests::Apply(setup).run(&mut ctx).await.map_err(err)?;
    let baseline = oracle::snapshot(&client).await.map_err(err)?;

    // 1. Inventory + diff of a cluster holding N more objects.
    let started = Instant::now();
    let created = futures::stream::iter((0..a.objects).map(|i| {
        let client = client.clone();
        async move {
            let obj: DynamicObject = serde_json::from_value(object(i)).map_err(err)?;
            let tm = obj.types.clone().unwrap_or_default();
            let (group, version) = tm.api_version.split_once('/').unwrap_or(("", tm.api_version.as_str()));
            let plural = match tm.kind.as_str() {
                "ServiceAccount" => "serviceaccounts".to_string(),
                "NetworkPolicy" => "networkpolicies".to_string(),
                "PodDisruptionBudget" => "poddisruptionbudgets".to_string(),
                k => format!("{}s", k.to_lowercase()),
            };
            let ar = ApiResource { group: group.into(), version: version.into(), api_version: tm.api_version.clone(), kind: tm.kind.clone(), plural };
            let api: Api<DynamicObject> = Api::namespaced_with(client, obj.metadata.namespace.as_deref().unwrap_or("default"), &ar);
            api.create(&PostParams::default(), &obj).await.map_err(err)
        }
    }))
    .buffer_unordered(32)
    .try_collect::<Vec<_>>()
    .await?;
    println!("setup: created {} objects in {}", created.len(), ms(started.elapsed()));
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        let inv = oracle::snapshot(&client).await.map_err(err)?;
        let d = oracle::diff(&baseline, &inv, &oracle::default_churn(), &[]);
        times.push(t.elapsed());
        last = Some((inv.objects.len(), inv.resource_types, d.leftovers.len()));
    }
    times.sort();
    let (objs, types, leftovers) = last.unwrap_or_default();
    println!(
        "inventory+diff: {objs} objects over {types} resource types, {leftovers} leftovers found: median {}, max {} (target {})",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 1.0)),
        if a.objects > 10_000 { "< 2 s for 100k" } else { "< 1 s for 10k" }
    );

    // 2. Condition-to-step latency of a watch-based wait.
    let probes: Api<DynamicObject> = Api::namespaced_with(client.clone(), "bench-0", &probe_ar());
    let mut lat = Vec::new();
    for i in 0..a.iterations {
        let name = format!("lat-{i}");
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "bench.cleanroom.dev/v1", "kind": "Probe", "metadata": {"name": name, "namespace": "bench-0"}
        }))
        .map_err(err)?;
        probes.create(&PostParams::default(), &obj).await.map_err(err)?;
        let mut wctx = StepContext::new(client.clone(), "sim", Capabilities::default(), "bench");
        let w = wait::ConditionWait {
            api_version: Some("bench.cleanroom.dev/v1".into()),
            kind: "Probe".into(),
            name: name.clone(),
            namespace: Some("bench-0".into()),
            type_: "Ready".into(),
            status: "True".into(),
        };
        let waiter = tokio::spawn(async move {
            w.run(&mut wctx).await.map(|_| Instant::now())
        });
        // Let the watch establish before the condition flips (not part of the measurement).
        tokio::time::sleep(Duration::from_millis(30)).await;
        let t0 = Instant::now();
        let status = serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        probes.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.map_err(err)?;
        let done = waiter.await.map_err(err)?.map_err(err)?;
        lat.push(done.saturating_duration_since(t0));
    }
    lat.sort();
    println!(
        "wait latency (status patched → wait.condition returns), {} samples: p50 {}, p95 {}, max {} (target p95 < 50 ms)",
        lat.len(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.95)),
        ms(pct(&lat, 1.0))
    );

    // 3. Harness overhead per step: runner::run_step around a primitive vs the primitive alone.
    let yaml = "name: o\nsteps:\n  - assert.count: {kind: ConfigMap, namespace: bench-1, selector: n=1, min: 0}\n";
    let s = parse_str(yaml, std::path::Path::new("bench.yaml"), None).map_err(err)?;
    let step = &s.steps[0];
    let n = a.iterations.max(20) * 4;
    let mut ctx = StepContext::new(client.clone(), "sim", Capabilities::default(), "bench");
    ctx.refresh_resources().await.map_err(err)?;
    // Interleaved so warm-up and server noise fall on both sides equally.
    let (mut direct, mut wrapped) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..n {
        let t = Instant::now();
        step.action.primitive().run(&mut ctx).await.map_err(err)?;
        direct += t.elapsed();
        let t = Instant::now();
        let _ = crate::runner::run_step(step, &mut ctx, "steps", None).await;
        wrapped += t.elapsed();
    }
    let per = (wrapped.as_secs_f64() - direct.as_secs_f64()) / n as f64;
    println!(
        "harness overhead per step: {:.3} ms ({} steps; step {} vs primitive alone {}) (target < 5 ms)",
        per * 1000.0,
        n,
        ms(wrapped / n as u32),
        ms(direct / n as u32)
    );
    sim.shutdown().await;
    settle_cost(a.iterations).await?;
    Ok(EXIT_OK)
}

/// `oracle.assert-clean` as written (it settles) vs `settle: 0s` (one look), interleaved on a fresh, quiet
/// cluster: the difference is what the settle costs when nothing is in flight.
async fn settle_cost(iterations: usize) -> Result<(), CliError> {
    let sim = SimProvider::start("bench-quiet", 2).await?;
    let mut ctx = StepContext::new(sim.client(), "sim", Capabilities::default(), "bench");
    let check = |settle: &str| -> Result<primitives::oracle::AssertClean, CliError> {
        serde_json::from_value(serde_json::json!({"baseline": "quiet", "settle": settle})).map_err(err)
    };
    let (settling, once) = (check("30s")?, check("0s")?);
    primitives::oracle::Snapshot { name: "quiet".into() }.run(&mut ctx).await.map_err(err)?;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..iterations.max(20) {
        // Outcomes are not the point (a fresh cluster may still change); only the time each takes.
        let t = Instant::now();
        let _ = settling.run(&mut ctx).await;
        with.push(t.elapsed());
        let t = Instant::now();
        let _ = once.run(&mut ctx).await;
        without.push(t.elapsed());
    }
    with.sort();
    without.sort();
    let added = pct(&with, 0.5).saturating_sub(pct(&without, 0.5));
    println!(
        "oracle settle on a quiet cluster: +{} per assert-clean ({} checks each; median {} settling vs {} looking once; p95 {} vs {}) (target < 20 ms)",
        ms(added),
        with.len(),
        ms(pct(&with, 0.5)),
        ms(pct(&without, 0.5)),
        ms(pct(&with, 0.95)),
        ms(pct(&without, 0.95))
    );
    sim.shutdown().await;
    Ok(())
}
