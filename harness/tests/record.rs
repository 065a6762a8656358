//! `cleanroom record` renders a chart with the real helm and writes the render and its catalogue entry
//! next to the scenarios; `run --helm recorded` then installs it with no helm at all.

mod common;

use std::process::Command;

#[test]
fn a_recorded_render_is_installed_without_helm() {
    let helms = require_helms!();
    for (name, bin) in helms {
        let dir = tempfile::tempdir().unwrap();
        let sc = dir.path().join("scenarios");
        std::fs::create_dir_all(&sc).unwrap();
        std::fs::write(dir.path().join("v.yaml"), "greeting: recorded\n").unwrap();
        let chart = common::helm_bins::demo_chart();
        let out = Command::new(env!("CARGO_BIN_EXE_cleanroom"))
            .args(["record", chart.to_str().unwrap(), "-f", "v.yaml", "--set", "replicas=2", "--release", "demo", "--namespace", "demo", "--out", "scenarios", "--helm-binary", bin.to_str().unwrap()])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("recorded cleanroom-demo/demo: cleanroom-demo 0.1.0, 6 objects"), "{name}");
        let cat = std::fs::read_to_string(sc.join("renders.yaml")).unwrap();
        assert!(cat.contains(r#""values":["../v.yaml"],"set":["replicas=2"]"#), "{name}: {cat}");
        let render = std::fs::read_to_string(sc.join("renders/cleanroom-demo-demo.yaml")).unwrap();
        assert!(render.contains("kind: CustomResourceDefinition") && render.contains("greeting: \"recorded\""), "{name}: --include-crds and the values");

        std::fs::write(
            sc.join("demo.yaml"),
            format!("name: demo-recorded\ndescription: d\nsteps:\n  - helm.install: {{ release: demo, chart: {}, namespace: demo, createNamespace: true, valuesFiles: [../v.yaml], set: [replicas=2] }}\n  - assert.field: {{ kind: ConfigMap, name: demo-config, namespace: demo, path: data.greeting, equals: recorded }}\n  - helm.uninstall: {{ release: demo, namespace: demo }}\n", chart.display()),
        )
        .unwrap();
        // No helm anywhere: the recorded engine alone.
        let out = Command::new(env!("CARGO_BIN_EXE_cleanroom"))
            .args(["run", "demo-recorded", "--scenarios", "scenarios", "--helm", "recorded", "--report-dir", "r"])
            .current_dir(dir.path())
            .env("PATH", "/usr/bin:/bin")
            .env_remove("CLEANROOM_HELM")
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{name}: {text}");
        assert!(text.contains("engine: recorded render cleanroom-demo/demo"), "{name}: {text}");
        assert!(!text.contains("is not a scenario"), "renders.yaml is not read as a scenario: {text}");
    }
}
