//! `kubectl explain` reads the OpenAPI v3 document of the resource's group-version and finds
//! the kind by `x-kubernetes-group-version-kind`: built-in kinds and CRDs.

mod common;

use common::Harness;

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A Widget is a thing with a size.
        properties:
          spec:
            type: object
            description: What the widget should be.
            required: [size]
            properties:
              size:
                type: integer
                description: How many sprockets the widget has.
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_builtin_kinds() {
    let h = Harness::start().await;
    let out = h.ok(&["explain", "pod.spec"]).await;
    assert!(out.contains("KIND:       Pod") && out.contains("VERSION:    v1"), "{out}");
    assert!(out.contains("FIELD: spec <PodSpec>"), "{out}");
    assert!(out.contains("Specification of the desired behavior of the pod."), "{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("containers\t<[]Container>") && l.contains("-required-")), "{out}");
    let out = h.ok(&["explain", "deployment.spec.template.spec.containers.livenessProbe.httpGet"]).await;
    assert!(out.contains("GROUP:      apps") && out.contains("KIND:       Deployment"), "{out}");
    assert!(out.contains("FIELD: httpGet <HTTPGetAction>"), "{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("port\t<IntOrString>")), "{out}");
    let out = h.ok(&["explain", "cronjobs.spec.jobTemplate", "--recursive"]).await;
    assert!(out.contains("KIND:       CronJob") && out.contains("restartPolicy"), "{out}");
}

/// Enum-typed fields list their values, as kube-apiserver's OpenAPI declares them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_prints_enum_values() {
    let h = Harness::start().await;
    let out = h.ok(&["explain", "pod.spec.restartPolicy"]).await;
    assert!(out.contains("FIELD: restartPolicy <string>\nENUM:\n    Always\n    Never\n    OnFailure\n"), "{out}");
    assert!(out.contains("Possible enum values:\n     - `\"Always\"`\n     - `\"Never\"`\n     - `\"OnFailure\"`"), "{out}");
    let out = h.ok(&["explain", "deployment.spec.strategy.type"]).await;
    assert!(out.contains("ENUM:\n    Recreate\n    RollingUpdate\n"), "{out}");
    let out = h.ok(&["explain", "pod.spec.containers.securityContext.capabilities"]).await;
    assert!(out.lines().any(|l| l.trim_start().starts_with("add\t<[]string>")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_custom_resources() {
    let h = Harness::start().await;
    let r = h.kubectl_stdin(&["apply", "-f", "-"], Some(CRD.into())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    h.ok(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]).await;
    let out = h.ok(&["explain", "widgets"]).await;
    assert!(out.contains("GROUP:      example.com") && out.contains("KIND:       Widget"), "{out}");
    assert!(out.contains("A Widget is a thing with a size."), "{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("metadata\t<ObjectMeta>")), "{out}");
    let out = h.ok(&["explain", "widgets.spec"]).await;
    assert!(out.contains("What the widget should be."), "{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("size\t<integer> -required-")), "{out}");
    assert!(out.contains("How many sprockets the widget has."), "{out}");
}
