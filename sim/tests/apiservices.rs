//! kube-aggregator's autoregister: the local APIServices kube-apiserver 1.35.4 keeps — one per built-in
//! group version from the start, one per served CRD group version while a CRD serves it.

mod common;

use common::{Harness, get_json, wait_for};

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: gadgets.ar.example.dev}\nspec:\n  group: ar.example.dev\n  scope: Namespaced\n  names: {kind: Gadget, plural: gadgets}\n  versions:\n  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}\n  - {name: v1beta1, served: false, storage: false, schema: {openAPIV3Schema: {type: object}}}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_apiservices_follow_built_in_groups_and_crds() {
    let h = Harness::start().await;
    let list = wait_for("the built-in APIServices", 10, async || {
        let l = get_json(&h, &["apiservices"]).await?;
        (l["items"].as_array()?.len() == 21).then_some(l)
    })
    .await;
    let core = list["items"].as_array().unwrap().iter().find(|s| s["metadata"]["name"] == "v1.").expect("v1.");
    assert_eq!(core["metadata"]["labels"]["kube-aggregator.kubernetes.io/automanaged"], "onstart");
    assert_eq!(core["spec"]["groupPriorityMinimum"], 18000);
    assert!(core["spec"]["service"].is_null(), "local: no service");
    assert_eq!(core["status"]["conditions"][0]["reason"], "Local", "{core}");
    assert_eq!(core["status"]["conditions"][0]["status"], "True");

    h.kubectl_stdin(&["apply", "-f", "-"], Some(CRD.into())).await;
    let made = wait_for("v1.ar.example.dev", 10, async || get_json(&h, &["apiservice", "v1.ar.example.dev"]).await).await;
    assert_eq!(made["metadata"]["labels"]["kube-aggregator.kubernetes.io/automanaged"], "true");
    assert_eq!((made["spec"]["groupPriorityMinimum"].as_i64(), made["spec"]["versionPriority"].as_i64()), (Some(1000), Some(100)));
    assert!(get_json(&h, &["apiservice", "v1beta1.ar.example.dev"]).await.is_none(), "a version that is not served gets none");

    h.ok(&["delete", "crd", "gadgets.ar.example.dev"]).await;
    wait_for("v1.ar.example.dev to go with its CRD", 10, async || get_json(&h, &["apiservice", "v1.ar.example.dev"]).await.is_none().then_some(())).await;
    assert!(get_json(&h, &["apiservice", "v1.apps"]).await.is_some(), "built-in ones stay");
}
