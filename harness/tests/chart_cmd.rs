//! `cleanroom chart` with the real helm v3 and v4 on the embedded cluster and on a cluster reached
//! only through a kubeconfig (`cleanroom sim serve` in another process): the lifecycle per values set,
//! the leftovers and their reasons exactly, `--allow`, and bad input.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn cleanroom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cleanroom")).args(args).env("CI", "1").env("CLEANROOM_STATE_DIR", std::env::temp_dir().join(format!("cleanroom-test-state-{}", std::process::id()))).env_remove("CLEANROOM_HELM").output().expect("cleanroom runs")
}

fn report(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("latest/report.json")).expect("report.json")).unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `(kind, name with the run's namespace suffix cut, reason with it cut)` of every leftover.
fn leftovers(s: &Value) -> Vec<(String, String, String)> {
    let ns = regex::Regex::new(r"(cleanroom-[a-z]+)-\d-[0-9a-f]{4}").unwrap();
    let pv = regex::Regex::new(r"pvc-[0-9a-f-]{36}").unwrap();
    let mut v: Vec<(String, String, String)> = s["leftovers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let cut = |t: &str| pv.replace_all(&ns.replace_all(t, "$1-NS"), "pvc-UID").into_owned();
            let name = format!("{}{}", l["namespace"].as_str().map(|n| format!("{}/", cut(n))).unwrap_or_default(), cut(l["name"].as_str().unwrap()));
            (l["kind"].as_str().unwrap().to_string(), regex::Regex::new(r"-[a-z0-9]{5}$").unwrap().replace(&name, "-POD").into_owned(), cut(l["reason"].as_str().unwrap()))
        })
        .collect();
    v.sort();
    v
}

fn detail(s: &Value, step: &str) -> String {
    s["steps"].as_array().unwrap().iter().find(|x| x["name"] == step).map(|x| x["detail"].as_str().or(x["reason"].as_str()).unwrap_or("").to_string()).unwrap_or_default()
}

const HOOK: &str = "Helm hook (post-install): hooks are not part of the release manifest, so helm uninstall leaves every hook its hook-delete-policy did not remove";
const CLAIM: &str = "claim from a StatefulSet's volumeClaimTemplates: made by the StatefulSet controller, not Helm, and kept by persistentVolumeClaimRetentionPolicy Retain (the default), so helm uninstall leaves it";

fn check_stateful(name: &str, dir: &Path, out: &Output) {
    assert_eq!(out.status.code(), Some(1), "{name}: leftovers beyond the allow-list fail the run\n{}", text(out));
    let r = report(dir);
    let s = &r["scenarios"][0];
    assert_eq!(s["name"], "cleanroom-stateful-defaults", "{name}");
    assert!(detail(s, "helm test").contains("1 succeeded (cleanroom-stateful-test-db)"), "{name}: {}", detail(s, "helm test"));
    assert!(detail(s, "install cleanroom-stateful").contains(&format!("engine: helm v{}", if name == "helm3" { "3" } else { "4" })), "{name}: {}", detail(s, "install cleanroom-stateful"));
    assert!(detail(s, "workloads ready, jobs complete").contains("StatefulSet cleanroom-stateful-db"), "{name}");
    assert!(detail(s, "upgrade to itself changes nothing").contains("no object's generation changed"), "{name}: {}", detail(s, "upgrade to itself changes nothing"));
    let ns = "cleanroom-stateful-NS";
    let want = vec![
        ("ConfigMap".to_string(), format!("{ns}/kube-root-ca.crt"), format!("inside leftover namespace {ns}")),
        ("Job".into(), format!("{ns}/cleanroom-stateful-migrate"), HOOK.into()),
        ("Namespace".into(), ns.into(), "namespace created outside the release: helm uninstall never deletes namespaces".into()),
        ("PersistentVolume".into(), "pvc-UID".into(), "volume in phase Bound: still bound to a claim that is left over".into()),
        ("PersistentVolume".into(), "pvc-UID".into(), "volume in phase Bound: still bound to a claim that is left over".into()),
        ("PersistentVolumeClaim".into(), format!("{ns}/data-cleanroom-stateful-db-0"), CLAIM.into()),
        ("PersistentVolumeClaim".into(), format!("{ns}/data-cleanroom-stateful-db-1"), CLAIM.into()),
        ("Pod".into(), format!("{ns}/cleanroom-stateful-migrate-POD"), format!("inside leftover namespace {ns}")),
        ("ServiceAccount".into(), format!("{ns}/default"), format!("inside leftover namespace {ns}")),
    ];
    assert_eq!(leftovers(s), want, "{name}");
    // The purge left the cluster as it found it.
    let purge = s["steps"].as_array().unwrap().iter().find(|x| x["name"] == "purge what was left").unwrap();
    assert_eq!(purge["outcome"], "passed", "{name}: {purge}");
}

#[test]
fn stateful_chart_with_helm3_and_helm4_on_the_embedded_cluster() {
    let helms = require_helms!();
    for (name, bin) in helms {
        let dir = tempfile::tempdir().unwrap();
        let chart = common::helm_bins::chart("cleanroom-stateful");
        let out = cleanroom(&["chart", chart.to_str().unwrap(), "--report-dir", dir.path().to_str().unwrap(), "--helm-binary", bin.to_str().unwrap()]);
        check_stateful(name, dir.path(), &out);
    }
}

#[test]
fn umbrella_chart_runs_each_ci_values_set_and_the_allow_list_passes_it() {
    let helms = require_helms!();
    let chart = common::helm_bins::chart("cleanroom-umbrella");
    let allow = common::helm_bins::chart("allow/umbrella.yaml");
    for (name, bin) in helms {
        let dir = tempfile::tempdir().unwrap();
        let out = cleanroom(&["chart", chart.to_str().unwrap(), "--report-dir", dir.path().to_str().unwrap(), "--helm", "cli", "--helm-binary", bin.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}\n{}", text(&out));
        let r = report(dir.path());
        let names: Vec<&str> = r["scenarios"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["cleanroom-umbrella-large", "cleanroom-umbrella-small"], "{name}: one scenario per ci/*-values.yaml");
        assert!(detail(&r["scenarios"][0], "workloads ready, jobs complete").contains("Deployment cleanroom-umbrella-gadgets"), "{name}");
        for s in r["scenarios"].as_array().unwrap() {
            let ns = "cleanroom-umbrella-NS";
            assert_eq!(
                leftovers(s),
                vec![
                    ("APIService".to_string(), "v1.umbrella.cleanroom.dev".into(), "registered by kube-apiserver for the CRDs of umbrella.cleanroom.dev/v1: it goes with the last of them, which is left over".into()),
                    ("ConfigMap".to_string(), format!("{ns}/kube-root-ca.crt"), format!("inside leftover namespace {ns}")),
                    ("CustomResourceDefinition".into(), "gadgets.umbrella.cleanroom.dev".into(), "CRD from the chart's crds/ directory: helm uninstall never deletes CRDs".into()),
                    ("Namespace".into(), ns.into(), "namespace created outside the release: helm uninstall never deletes namespaces".into()),
                    ("ServiceAccount".into(), format!("{ns}/default"), format!("inside leftover namespace {ns}")),
                ],
                "{name}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let out = cleanroom(&["chart", chart.to_str().unwrap(), "--report-dir", dir.path().to_str().unwrap(), "--allow", allow.to_str().unwrap(), "--helm-binary", bin.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}: the allow-list covers the residue\n{}", text(&out));
        assert!(text(&out).contains("2 passed, 0 failed, 0 skipped"), "{name}");
    }
}

/// `cleanroom sim serve` in another process; the kubeconfig appears once it serves.
#[test]
fn stateful_chart_on_a_cluster_reached_through_a_kubeconfig() {
    let helms = require_helms!();
    let served = common::serve();
    for (name, bin) in helms {
        let dir = tempfile::tempdir().unwrap();
        let chart = common::helm_bins::chart("cleanroom-stateful");
        let out = cleanroom(&[
            "chart", chart.to_str().unwrap(), "--provider", "existing", "--kubeconfig", served.1.to_str().unwrap(), "--allow-destructive",
            "--report-dir", dir.path().to_str().unwrap(), "--helm-binary", bin.to_str().unwrap(),
        ]);
        check_stateful(name, dir.path(), &out);
    }
}

#[test]
fn bad_input_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = cleanroom(&["chart", "./no/such/chart", "--report-dir", d]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("chart ./no/such/chart: no such chart directory or archive"), "{}", text(&out));

    let bad = dir.path().join("bad-values.yaml");
    std::fs::write(&bad, "a: [1, 2\n").unwrap();
    let chart = common::helm_bins::demo_chart();
    let out = cleanroom(&["chart", chart.to_str().unwrap(), "-f", bad.to_str().unwrap(), "--report-dir", d]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains(&format!("values file {} does not parse", bad.display())), "{}", text(&out));

    let out = cleanroom(&["chart", chart.to_str().unwrap(), "--set", "greeting", "--report-dir", d]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--set greeting: expected KEY=VALUE"), "{}", text(&out));
}

#[test]
fn helm_missing_too_old_or_failing_mid_install_names_the_chart_step_and_leaves_the_cluster_clean() {
    let dir = tempfile::tempdir().unwrap();
    let chart = common::helm_bins::demo_chart();
    let out = cleanroom(&["chart", chart.to_str().unwrap(), "--helm", "cli", "--helm-binary", "/nonexistent/helm", "--report-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(dir.path());
    let s = &r["scenarios"][0];
    let install = &s["steps"][1];
    assert_eq!((install["name"].as_str(), install["outcome"].as_str()), (Some("install cleanroom-demo"), Some("failed")));
    assert!(install["reason"].as_str().unwrap().contains("the `helm` binary was not found"), "{install}");
    assert_eq!(s["steps"].as_array().unwrap().iter().find(|x| x["name"] == "purge what was left").unwrap()["outcome"], "passed");

    // A helm older than 3.8, and one that fails mid-install with its stderr: fake binaries.
    for (version, script_tail, want) in [
        ("v3.7.2", "", "helm v3.7.2 is not supported: cleanroom needs helm >= v3.8.0"),
        ("v3.22.0", "echo 'Error: INSTALLATION FAILED: context deadline exceeded while applying demo-config' >&2; exit 1", "INSTALLATION FAILED: context deadline exceeded while applying demo-config"),
    ] {
        let fake = dir.path().join(format!("helm-{version}"));
        std::fs::write(&fake, format!("#!/bin/sh\ncase \"$1\" in version) printf '%s' '{version}'; exit 0;; esac\n{script_tail}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let rd = dir.path().join(version);
        let out = cleanroom(&["chart", chart.to_str().unwrap(), "--helm", "cli", "--helm-binary", fake.to_str().unwrap(), "--report-dir", rd.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let r = report(&rd);
        let install = &r["scenarios"][0]["steps"][1];
        assert!(install["reason"].as_str().unwrap().contains(want), "{version}: {install}");
    }
}

#[test]
fn an_install_that_times_out_is_reported_by_helm_and_the_cluster_is_purged() {
    let helms = require_helms!();
    let (name, bin) = &helms[1];
    let dir = tempfile::tempdir().unwrap();
    let chart = common::helm_bins::chart("cleanroom-stateful");
    // A storage class that does not exist keeps the claims, and so the pods, Pending: --wait runs out.
    let out = cleanroom(&[
        "chart", chart.to_str().unwrap(), "--set", "storageClass=missing", "--timeout", "20s", "--report-dir", dir.path().to_str().unwrap(), "--helm-binary", bin.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{name}\n{}", text(&out));
    let r = report(dir.path());
    let s = &r["scenarios"][0];
    assert_eq!(s["name"], "cleanroom-stateful-values");
    let install = &s["steps"][1];
    assert_eq!((install["name"].as_str(), install["outcome"].as_str()), (Some("install cleanroom-stateful"), Some("failed")), "{install}");
    let why = install["reason"].as_str().unwrap();
    assert!(why.starts_with("INSTALLATION FAILED: ") && why.contains("context deadline exceeded"), "{name}: helm's own timeout error: {why}");
    let purge = s["steps"].as_array().unwrap().iter().find(|x| x["name"] == "purge what was left").unwrap();
    assert_eq!(purge["outcome"], "passed", "{purge}");
}
