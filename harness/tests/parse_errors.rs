//! Malformed scenario files are rejected before any cluster is touched, with file:line:column and a hint.

use std::path::Path;

use cleanroom::scenario::{ParseError, parse_str};

fn err(text: &str) -> ParseError {
    parse_str(text, Path::new("bad.yaml"), None).expect_err("should be rejected")
}

#[test]
fn malformed_yaml_points_at_the_line() {
    let e = err("name: x\nsteps:\n  - cluster.ensure: {}\n  - namespace.create: {name: [unclosed\n");
    assert!(e.message.starts_with("malformed YAML"), "{e}");
    assert!(e.line >= 4, "{e}");
    assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
}

#[test]
fn unknown_primitive_lists_close_names() {
    let e = err("name: x\nsteps:\n  - cluster.ensure: {}\n  - namespace.creat:\n      name: demo\n");
    assert_eq!((e.line, e.column), (4, 5), "{e}");
    assert_eq!(e.message, "unknown primitive `namespace.creat`");
    let hint = e.hint.unwrap();
    assert!(hint.starts_with("did you mean `namespace.create`"), "{hint}");
}

#[test]
fn unknown_primitive_in_family_suggests_siblings() {
    let e = err("name: x\nsteps:\n  - wait.forever: {}\n");
    assert_eq!(e.line, 3);
    assert!(e.hint.unwrap().contains("wait."), "family members are suggested");
}

#[test]
fn missing_argument_names_it() {
    let e = err("name: x\nsteps:\n  - wait.pvc-bound:\n      name: data\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("missing required argument `namespace`"), "{e}");
    assert!(e.hint.unwrap().contains("name, namespace"));
}

#[test]
fn unknown_argument_points_at_the_key() {
    let e = err("name: x\nsteps:\n  - namespace.create:\n      name: demo\n      lables: {a: b}\n");
    assert_eq!((e.line, e.column), (5, 7), "{e}");
    assert!(e.message.contains("unknown argument `lables`"), "{e}");
    assert!(e.hint.unwrap().contains("did you mean `labels`"));
}

#[test]
fn type_error_points_at_the_value() {
    let e = err("name: x\nsteps:\n  - wait.pods-ready:\n      namespace: a\n      selector: app=x\n      count: many\n");
    assert_eq!(e.line, 6, "{e}");
    assert!(e.message.contains("expected u32"), "{e}");
    let e = err("name: x\nsteps:\n  - purge.by-selector:\n      kinds: ConfigMap\n      selector: a=b\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("expected a sequence"), "{e}");
}

#[test]
fn bad_timeout_and_expect() {
    let e = err("name: x\nsteps:\n  - cluster.ensure: {}\n    timeout: 3 weeks\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("invalid duration"), "{e}");
    let e = err("name: x\nsteps:\n  - cluster.ensure: {}\n    expect: maybe\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.hint.unwrap().contains("succeeds"));
    let e = err("name: x\nsteps:\n  - cluster.ensure: {}\n    message: boom\n");
    assert!(e.message.contains("only meaningful with `expect: fails`"), "{e}");
    let e = err("name: x\nsteps:\n  - cluster.ensure: {}\n    expect: fails\n    message: '(unclosed'\n");
    assert!(e.message.contains("not a valid regular expression"), "{e}");
}

#[test]
fn undefined_variable_is_named() {
    let e = err("name: x\nvariables: {NS: demo}\nsteps:\n  - namespace.create: {name: \"${NAMESPACE}\"}\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("undefined variable `${NAMESPACE}`"), "{e}");
    assert!(e.hint.unwrap().contains("NS"));
}

#[test]
fn two_primitives_in_one_step() {
    let e = err("name: x\nsteps:\n  - cluster.ensure: {}\n    namespace.create: {name: a}\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("two primitives"), "{e}");
}

#[test]
fn top_level_mistakes() {
    let e = err("name: x\nstep:\n  - cluster.ensure: {}\n");
    assert_eq!(e.line, 2);
    assert!(e.hint.unwrap().contains("did you mean `steps`"));
    let e = err("description: no name\nsteps: []\n");
    assert!(e.message.contains("missing required key `name`"), "{e}");
    let e = err("name: x\nsteps: []\n");
    assert!(e.message.contains("`steps` is empty"), "{e}");
    let e = err("- just\n- a list\n");
    assert!(e.message.contains("must be a mapping"), "{e}");
}

#[test]
fn semantic_validation() {
    let e = err("name: x\nsteps:\n  - manifests.apply: {namespace: a}\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("give at least one of `file`"), "{e}");
    let e = err("name: x\nsteps:\n  - purge.by-selector: {kinds: [ConfigMap], selector: ''}\n");
    assert!(e.message.contains("empty selector would match everything"), "{e}");
}

#[test]
fn variables_substitute_and_builtins_exist() {
    let s = parse_str(
        "name: x\nvariables: {NS: 'demo-${RUN_ID}'}\nsteps:\n  - namespace.create: {name: \"${NS}\"}\n",
        Path::new("ok.yaml"),
        None,
    )
    .unwrap();
    assert_eq!(s.steps[0].display_name(), "namespace.create demo-validate");
    assert_eq!(s.steps[0].line, 4);
}

#[test]
fn a_misspelt_step_option_is_not_called_a_primitive() {
    let e = err("name: x\nsteps:\n  - namespace.create: { name: a }\n    timout: 5s\n");
    assert_eq!((e.line, e.column), (4, 5), "{e}");
    assert_eq!(e.message, "unknown step option `timout`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `timeout`?"));
}

#[test]
fn an_undefined_baseline_is_caught_before_the_run() {
    let e = err("name: x\nsteps:\n  - oracle.snapshot: { name: before }\n  - oracle.assert-clean: { baseline: baseline }\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("names baseline `baseline`, which no earlier `oracle.snapshot` takes (snapshots taken before it: before)"), "{e}");
    assert!(e.hint.unwrap().contains("oracle.snapshot: { name: baseline }"));
    // A snapshot taken in steps serves a check in finally.
    parse_str("name: x\nsteps:\n  - oracle.snapshot: {}\nfinally:\n  - oracle.assert-clean: {}\n", Path::new("ok.yaml"), None).unwrap();
}

#[test]
fn a_missing_manifest_file_is_caught_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    let e = parse_str("name: x\nsteps:\n  - manifests.apply: { file: nope.yaml }\n", &file, None).expect_err("missing file");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("file `nope.yaml` does not exist"), "{e}");
    std::fs::write(dir.path().join("nope.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n").unwrap();
    parse_str("name: x\nsteps:\n  - manifests.apply: { file: nope.yaml }\n", &file, None).unwrap();
}

#[test]
fn a_drain_longer_than_its_step_is_caught() {
    let e = err("name: x\nsteps:\n  - node.drain: { node: n, timeout: 2m }\n");
    assert!(e.message.contains("`node.drain` waits up to 2m but its step may only run 1m"), "{e}");
    parse_str("name: x\nsteps:\n  - node.drain: { node: n, timeout: 2m }\n    timeout: 3m\n", Path::new("ok.yaml"), None).unwrap();
}

#[test]
fn yaml_that_is_not_a_scenario_is_ignored_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n").unwrap();
    std::fs::write(dir.path().join("renders.yaml"), "renders:\n  - chart: x\n").unwrap();
    std::fs::write(dir.path().join("real.yaml"), "name: real\nsteps:\n  - cluster.ensure: {}\n").unwrap();
    let all = cleanroom::scenario::load_dir(dir.path()).unwrap();
    assert_eq!(all.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["real"]);
}

#[test]
fn helm_steps_are_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    std::fs::write(dir.path().join("bad.yaml"), "a: [1, 2\n").unwrap();
    let check = |step: &str| {
        let text = format!("name: x\nsteps:\n  - cluster.ensure: {{}}\n  - {step}\n");
        parse_str(&text, &file, None).expect_err("should be rejected")
    };
    let e = check("helm.install: { release: r, chart: ./no-chart, namespace: n }");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.starts_with("`helm.install`: chart `./no-chart` does not exist"), "{e}");
    let e = check("helm.upgrade: { release: r, chart: repo/c, namespace: n, valuesFiles: [bad.yaml] }");
    assert!(e.message.starts_with("`helm.upgrade`: values file `bad.yaml` does not parse"), "{e}");
    let e = check("helm.install: { release: r, chart: repo/c, namespace: n, set: [replicas] }");
    assert_eq!(e.message, "`helm.install`: set `replicas` has no `=`");
    let e = check("helm.test: { release: r }");
    assert!(e.message.contains("missing required argument `namespace`"), "{e}");
}

#[test]
fn images_are_image_references() {
    let ok = "name: s\nimages: [example.dev/app:dev, nginx]\nsteps:\n  - namespace.create: { name: x }\n";
    let s = cleanroom::scenario::parse_str(ok, std::path::Path::new("s.yaml"), None).expect("valid images parse");
    assert_eq!(s.images, ["example.dev/app:dev", "nginx"]);
    let e = err("name: s\nimages: [\"app dev\"]\nsteps:\n  - namespace.create: { name: x }\n");
    assert!(e.message.contains("\"app dev\" is not an image reference"), "{e}");
    assert_eq!(e.line, 2);
    let e = err("name: s\nimages: app:dev\nsteps:\n  - namespace.create: { name: x }\n");
    assert!(e.to_string().contains("images"), "{e}");
}
