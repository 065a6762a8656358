//! The HorizontalPodAutoscaler controller as it behaves on kind (no metrics-server), driven
//! through kubectl: replicas are brought within min..max, resource metrics are reported as
//! unavailable with kube-controller-manager's conditions and events, and `kubectl get hpa`
//! fills the Targets and Replicas cells. The same texts are compared with a real
//! kube-controller-manager in the kubectl corpus of the kwok tier.

mod workloads_common;
use workloads_common::*;

use cleanroom_sim::{Clock, SimCluster, SimOptions};
use serde_json::Value;

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: nginx:1.27, resources: {requests: {cpu: 100m}}}]}\n";

fn hpa(target: &str, min: u32, max: u32) -> String {
    format!("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web, namespace: default}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}\n  minReplicas: {min}\n  maxReplicas: {max}\n  metrics: [{{type: Resource, resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}}}]\n")
}

fn hpa_status(sim: &SimCluster) -> Value {
    store_list(sim, "autoscaling/horizontalpodautoscalers", Some("default")).into_iter().find(|h| name(h) == "web").map(|h| h["status"].clone()).unwrap_or_default()
}

fn condition(st: &Value, ty: &str) -> Option<(String, String, String)> {
    let c = st["conditions"].as_array()?.iter().find(|c| c["type"] == ty)?;
    Some((c["status"].as_str()?.into(), c["reason"].as_str()?.into(), c["message"].as_str()?.into()))
}

fn events_of(sim: &SimCluster) -> Vec<(String, String)> {
    store_list(sim, "events", Some("default")).iter()
        .filter(|e| e["involvedObject"]["kind"] == "HorizontalPodAutoscaler")
        .map(|e| (e["reason"].as_str().unwrap_or("").to_string(), e["message"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// Wait for the Deployment `web` to be scaled to `replicas` and for the autoscaler's
/// `SuccessfulRescale` event that says why.
async fn rescaled(sim: &SimCluster, replicas: i64, reason: &str) {
    watch_until(sim, 20, &format!("the Deployment scaled to {replicas}"), || {
        let d = store_list(sim, "apps/deployments", Some("default")).into_iter().find(|d| name(d) == "web")?;
        (d["spec"]["replicas"] == replicas).then_some(())
    }).await;
    let event = ("SuccessfulRescale".to_string(), format!("New size: {replicas}; reason: {reason}"));
    watch_until(sim, 20, "the SuccessfulRescale event", || events_of(sim).contains(&event).then_some(())).await;
}

const NO_METRICS: &str = "failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_min_is_scaled_up_and_metrics_are_reported_missing() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { clock: clock.clone(), write_storm_limit: Some(100), ..Default::default() }).await;
    apply(&kc, DEPLOYMENT).await;
    apply(&kc, &hpa("web", 3, 5)).await;

    // Replicas 1 < minReplicas 3: the controller rescales without any metrics.
    rescaled(&sim, 3, "Current number of replicas below Spec.MinReplicas").await;
    assert!(condition(&hpa_status(&sim), "ScalingActive").is_none(), "no metrics were asked for yet");

    // In range at the next sync, 15 s later: the CPU metric cannot be read on a cluster without
    // metrics-server.
    clock.advance(std::time::Duration::from_secs(16));
    let st = watch_until(&sim, 20, "ScalingActive=False", || {
        let st = hpa_status(&sim);
        condition(&st, "ScalingActive").is_some().then_some(st)
    }).await;
    assert_eq!(condition(&st, "ScalingActive").unwrap(), ("False".into(), "FailedGetResourceMetric".into(), format!("the HPA was unable to compute the replica count: {NO_METRICS}")));
    assert_eq!(condition(&st, "AbleToScale").unwrap().1, "SucceededGetScale");
    assert_eq!(st["currentReplicas"], 3);
    assert_eq!(st["desiredReplicas"], 3, "kept from the rescale");
    assert!(st["lastScaleTime"].is_string());
    assert_eq!(st["currentMetrics"], serde_json::json!([{"type": ""}]));
    // The controller writes the status, then records the event that sums the pass up.
    let events = watch_until(&sim, 20, "FailedComputeMetricsReplicas", || {
        let events = events_of(&sim);
        events.iter().any(|e| e.0 == "FailedComputeMetricsReplicas").then_some(events)
    }).await;
    assert!(events.contains(&("FailedGetResourceMetric".into(), NO_METRICS.into())), "{events:?}");
    assert!(events.contains(&("FailedComputeMetricsReplicas".into(), format!("invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: {NO_METRICS}"))), "{events:?}");

    // kubectl's cells: Targets as kube-apiserver prints them without a current value, Replicas 3.
    let table = kubectl(&kc, &["get", "hpa", "web", "--no-headers"]).await;
    let cells: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(&cells[..6], ["web", "Deployment/web", "cpu:", "<unknown>/50%", "3", "5"], "{table}");
    assert_eq!(cells[6], "3", "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_max_is_scaled_down_and_a_missing_target_is_reported() {
    let (sim, kc, _d) = start_with(SimOptions { write_storm_limit: Some(100), ..Default::default() }).await;
    apply(&kc, &DEPLOYMENT.replace("replicas: 1", "replicas: 6")).await;
    apply(&kc, &hpa("web", 1, 4)).await;
    rescaled(&sim, 4, "Current number of replicas above Spec.MaxReplicas").await;

    kubectl(&kc, &["delete", "hpa", "web"]).await;
    apply(&kc, &hpa("gone", 1, 4)).await;
    let st = watch_until(&sim, 20, "AbleToScale=False", || {
        let st = hpa_status(&sim);
        condition(&st, "AbleToScale").filter(|c| c.0 == "False").map(|_| st)
    }).await;
    assert_eq!(condition(&st, "AbleToScale").unwrap(), ("False".into(), "FailedGetScale".into(),
        "the HPA controller was unable to get the target's current scale: deployments.apps \"gone\" not found".into()));
    assert!(events_of(&sim).contains(&("FailedGetScale".into(), "deployments.apps \"gone\" not found".into())));
}

/// An autoscaler written as autoscaling/v1 with no target reads back at v2 with kube-apiserver's
/// implicit 80% CPU metric and the controller's conditions; at v1, the conditions are the
/// `autoscaling.alpha.kubernetes.io/conditions` annotation, and a v2 object's other metrics and
/// behavior travel in their round-trip annotations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscaling_v1_and_v2_are_two_views_of_one_object() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { clock: clock.clone(), write_storm_limit: Some(100), ..Default::default() }).await;
    apply(&kc, DEPLOYMENT).await;
    apply(&kc, "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: web, namespace: default}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: 3\n").await;
    clock.advance(std::time::Duration::from_secs(16));
    watch_until(&sim, 20, "ScalingActive on the v1 autoscaler", || condition(&hpa_status(&sim), "ScalingActive")).await;

    let v2 = get_json(&kc, &["hpa", "web"]).await; // kubectl reads autoscaling/v2
    assert_eq!(v2["apiVersion"], "autoscaling/v2");
    assert_eq!(v2["spec"]["metrics"], serde_json::json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]));
    assert!(v2["spec"].get("targetCPUUtilizationPercentage").is_none(), "{}", v2["spec"]);
    assert_eq!(condition(&v2["status"], "ScalingActive").unwrap().1, "FailedGetResourceMetric");
    assert!(v2["metadata"]["annotations"].get("autoscaling.alpha.kubernetes.io/conditions").is_none());

    let v1 = get_json(&kc, &["horizontalpodautoscalers.v1.autoscaling", "web"]).await;
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 80, "{}", v1["spec"]);
    assert!(v1["status"].get("conditions").is_none(), "{}", v1["status"]);
    let conds: Value = serde_json::from_str(v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/conditions"].as_str().unwrap()).unwrap();
    assert!(conds.as_array().unwrap().iter().any(|c| c["type"] == "ScalingActive" && c["reason"] == "FailedGetResourceMetric"), "{conds}");
    // `kubectl describe` (v2) shows the implicit target.
    let described = kubectl(&kc, &["describe", "hpa", "web"]).await;
    assert!(described.contains("resource cpu on pods  (as a percentage of request):  <unknown> / 80%"), "{described}");

    // A v2 autoscaler with a memory target and a behavior, read at v1.
    apply(&kc, "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: two, namespace: default}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: other}\n  maxReplicas: 3\n  metrics:\n  - {type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}}\n  - {type: Resource, resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}}\n  behavior: {scaleDown: {stabilizationWindowSeconds: 60}}\n").await;
    let v1 = get_json(&kc, &["horizontalpodautoscalers.v1.autoscaling", "two"]).await;
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
    assert_eq!(v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/metrics"], r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}}]"#);
    let behavior = v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/behavior"].as_str().unwrap();
    assert!(behavior.contains(r#""ScaleDown":{"StabilizationWindowSeconds":60"#), "{behavior}");
    sim.shutdown().await;
}

/// A v1 autoscaler later applied as v2 becomes what v2 says (the patch edits v2's `metrics`, not
/// v1's CPU target), and reads back at v1 with the new metric in the round-trip annotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_autoscaler_reapplied_as_v2_takes_the_v2_metrics() {
    let (sim, kc, _d) = start().await;
    apply(&kc, "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: web, namespace: default}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: 3\n  targetCPUUtilizationPercentage: 70\n").await;
    apply(&kc, "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web, namespace: default}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: 3\n  metrics: [{type: Resource, resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}}]\n").await;
    let v2 = get_json(&kc, &["hpa", "web"]).await;
    assert_eq!(v2["spec"]["metrics"], serde_json::json!([{"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]));
    let v1 = get_json(&kc, &["horizontalpodautoscalers.v1.autoscaling", "web"]).await;
    assert!(v1["spec"].get("targetCPUUtilizationPercentage").is_none(), "{}", v1["spec"]);
    assert_eq!(v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/metrics"], r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}}]"#);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_object_and_external_metrics_are_reported_missing_as_without_adapters() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { clock: clock.clone(), write_storm_limit: Some(100), ..Default::default() }).await;
    apply(&kc, DEPLOYMENT).await;
    let metrics = "[{type: Pods, pods: {metric: {name: rps}, target: {type: AverageValue, averageValue: '10'}}},\
        {type: Object, object: {describedObject: {apiVersion: v1, kind: Service, name: front}, metric: {name: hits}, target: {type: Value, value: '5'}}},\
        {type: External, external: {metric: {name: queue, selector: {matchLabels: {q: jobs}}}, target: {type: AverageValue, averageValue: '3'}}}]";
    apply(&kc, &hpa("web", 1, 3).replace("  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]\n", &format!("  metrics: {metrics}\n"))).await;
    clock.advance(std::time::Duration::from_secs(16));
    let events = watch_until(&sim, 20, "FailedComputeMetricsReplicas", || {
        let events = events_of(&sim);
        events.iter().any(|e| e.0 == "FailedComputeMetricsReplicas").then_some(events)
    }).await;
    let custom = "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered";
    let pods = format!("unable to get metric rps: {custom}");
    let object = format!("unable to get metric hits: Service on default front/{custom}");
    let external = "unable to get external metric default/queue/&LabelSelector{MatchLabels:map[string]string{q: jobs,},MatchExpressions:[]LabelSelectorRequirement{},}: \
        unable to fetch metrics from external metrics API: the server could not find the requested resource (get queue.external.metrics.k8s.io)";
    for (reason, message) in [("FailedGetPodsMetric", pods.as_str()), ("FailedGetObjectMetric", object.as_str()), ("FailedGetExternalMetric", external)] {
        assert!(events.contains(&(reason.into(), message.into())), "{reason} {message}\n{events:?}");
    }
    assert!(events.contains(&("FailedComputeMetricsReplicas".into(), format!("invalid metrics (3 invalid out of 3), first error is: failed to get pods metric value: {pods}"))), "{events:?}");
    let st = hpa_status(&sim);
    assert_eq!(condition(&st, "ScalingActive").unwrap(), ("False".into(), "FailedGetPodsMetric".into(), format!("the HPA was unable to compute the replica count: {pods}")));
    assert_eq!(st["currentMetrics"], serde_json::json!([{"type": ""}, {"type": ""}, {"type": ""}]));
}

fn condition_of(sim: &SimCluster, hpa: &str, ty: &str) -> Option<(String, String, String)> {
    let h = store_list(sim, "autoscaling/horizontalpodautoscalers", Some("default")).into_iter().find(|h| name(h) == hpa)?;
    condition(&h["status"], ty)
}

/// Two autoscalers over the same pods (`validateAndParseSelector`): the second to compute finds
/// them claimed, the first finds out at its next sync, and the survivor recovers once the
/// other is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_autoscalers_over_the_same_pods_are_reported_ambiguous() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { clock: clock.clone(), write_storm_limit: Some(100), ..Default::default() }).await;
    apply(&kc, DEPLOYMENT).await;
    watch_until(&sim, 20, "the Deployment's pod", || store_list(&sim, "pods", Some("default")).into_iter().find(|p| p["metadata"]["labels"]["app"] == "web").map(|_| ())).await;
    apply(&kc, &hpa("web", 1, 3)).await;
    let reason_of = |hpa: &str| condition_of(&sim, hpa, "ScalingActive").map(|c| c.1);
    watch_until(&sim, 20, "web's metric failure", || (reason_of("web")? == "FailedGetResourceMetric").then_some(())).await;

    apply(&kc, &hpa("web", 1, 3).replace("{name: web, namespace: default}", "{name: web2, namespace: default}")).await;
    let ambiguous = "pods by selector app=web are controlled by multiple HPAs: [default/web default/web2]";
    let c = watch_until(&sim, 20, "web2 ambiguous", || condition_of(&sim, "web2", "ScalingActive").filter(|c| c.1 == "AmbiguousSelector")).await;
    assert_eq!(c, ("False".into(), "AmbiguousSelector".into(), ambiguous.into()));
    let events = watch_until(&sim, 20, "the events of web2's pass", || {
        let events = events_of(&sim);
        events.iter().any(|e| e == &("FailedComputeMetricsReplicas".to_string(), ambiguous.to_string())).then_some(events)
    }).await;
    assert!(events.contains(&("AmbiguousSelector".into(), ambiguous.into())), "{events:?}");
    assert_eq!(reason_of("web").as_deref(), Some("FailedGetResourceMetric"), "web has not synced since");

    clock.advance(std::time::Duration::from_secs(16));
    watch_until(&sim, 20, "web ambiguous at its next sync", || (reason_of("web")? == "AmbiguousSelector").then_some(())).await;

    kubectl(&kc, &["delete", "hpa", "web2"]).await;
    clock.advance(std::time::Duration::from_secs(16));
    watch_until(&sim, 20, "web alone again", || (reason_of("web")? == "FailedGetResourceMetric").then_some(())).await;
}
