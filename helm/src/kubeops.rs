//! The Kubernetes calls the recorded-render engine makes: type resolution, GET, server-side
//! apply, DELETE, and waits (CRD Established, hook Job/Pod done) built on kube::runtime watches.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiResource, Scope};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::Value;

/// Field manager Helm v4 uses (the binary name).
pub const FIELD_MANAGER: &str = "helm";

/// A manifest object resolved against the cluster.
#[derive(Clone)]
pub struct Target {
    pub kind: String,
    pub name: String,
    /// Empty for cluster-scoped objects (as in Helm's messages).
    pub namespace: String,
    pub api: Api<DynamicObject>,
}

/// Why an object could not be resolved: Helm's REST-mapping text.
pub fn no_mapping(obj: &Value) -> String {
    format!(
        "resource mapping not found for name: {:?} namespace: {:?} from \"\": no matches for kind {:?} in version {:?}\nensure CRDs are installed first",
        obj["metadata"]["name"].as_str().unwrap_or_default(),
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["kind"].as_str().unwrap_or_default(),
        obj["apiVersion"].as_str().unwrap_or_default(),
    )
}

pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        e => e.to_string(),
    }
}

pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

pub fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

pub struct Kube {
    pub client: kube::Client,
    cache: Mutex<HashMap<(String, String), (ApiResource, bool)>>,
}

impl Kube {
    pub fn new(client: kube::Client) -> Self {
        Kube { client, cache: Mutex::default() }
    }

    /// Resolve apiVersion/kind, retrying briefly: a just-Established CRD can lag in discovery.
    async fn resolve(&self, api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
        let key = (api_version.to_string(), kind.to_string());
        let hit = self.cache.lock().expect("cache lock").get(&key).cloned();
        if hit.is_some() {
            return hit;
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        for attempt in 0..10 {
            if let Ok((ar, caps)) = discovery::pinned_kind(&self.client, &gvk).await {
                let v = (ar, caps.scope == Scope::Namespaced);
                self.cache.lock().expect("cache lock").insert(key, v.clone());
                return Some(v);
            }
            if attempt < 9 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        None
    }

    /// Where `obj` lives; namespaced objects without a namespace go to the release namespace.
    pub async fn target(&self, obj: &Value, release_ns: &str) -> Result<Target, String> {
        let kind = obj["kind"].as_str().unwrap_or_default();
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let (ar, namespaced) = self.resolve(api_version, kind).await.ok_or_else(|| no_mapping(obj))?;
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let (api, namespace) = if namespaced {
            let ns = obj["metadata"]["namespace"].as_str().unwrap_or(release_ns).to_string();
            (Api::namespaced_with(self.client.clone(), &ns, &ar), ns)
        } else {
            (Api::all_with(self.client.clone(), &ar), String::new())
        };
        Ok(Target { kind: kind.to_string(), name, namespace, api })
    }

    pub async fn get(&self, t: &Target) -> Result<Option<DynamicObject>, kube::Error> {
        t.api.get_opt(&t.name).await
    }

    /// Server-side apply as Helm v4 does it (`fieldManager=helm`, `fieldValidation=Strict`, force).
    pub async fn apply(&self, t: &Target, obj: &Value) -> Result<(), kube::Error> {
        let mut body = obj.clone();
        if !t.namespace.is_empty() {
            body["metadata"]["namespace"] = Value::String(t.namespace.clone());
        }
        let pp = PatchParams::apply(FIELD_MANAGER).force().validation_strict();
        t.api.patch(&t.name, &pp, &Patch::Apply(&body)).await.map(|_| ())
    }

    /// DELETE; NotFound counts as done.
    pub async fn delete(&self, t: &Target, dp: &DeleteParams) -> Result<(), kube::Error> {
        match t.api.delete(&t.name, dp).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Wait until `t` is gone (used for before-hook-creation: the old hook must be gone first).
    pub async fn wait_deleted(&self, t: &Target, timeout: Duration) -> Result<(), String> {
        // Not `conditions::is_deleted("")`: with an empty uid it holds while the object still exists.
        let fut = await_condition(t.api.clone(), &t.name, |o: Option<&DynamicObject>| o.is_none());
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("timed out waiting for {} {:?} to be deleted", t.kind, t.name)),
        }
    }

    /// Create a CRD raw (no ownership metadata). AlreadyExists is fine, as in Helm's `installCRDs`.
    pub async fn create_crd(&self, obj: &Value) -> Result<bool, String> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let crd: CustomResourceDefinition = serde_json::from_value(obj.clone())
            .map_err(|e| format!("CRD {:?} is not valid: {e}", obj["metadata"]["name"].as_str().unwrap_or_default()))?;
        match api.create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() }, &crd).await {
            Ok(_) => Ok(true),
            Err(e) if is_already_exists(&e) => Ok(false),
            Err(e) => Err(format!(
                "failed to install CRD {}: {}",
                obj["metadata"]["name"].as_str().unwrap_or_default(),
                api_message(&e)
            )),
        }
    }

    pub async fn wait_crd_established(&self, name: &str, timeout: Duration) -> Result<(), String> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let fut = await_condition(api, name, conditions::is_crd_established());
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("timed out after {timeout:?} waiting for CRD {name} to be Established")),
        }
    }

    /// Helm's hook wait: a Job until condition Complete or Failed, a Pod until Succeeded or
    /// Failed; other kinds are ready at once.
    pub async fn wait_hook(&self, t: &Target, timeout: Duration) -> Result<(), String> {
        let result = match t.kind.as_str() {
            "Job" => {
                let api: Api<Job> = Api::namespaced(self.client.clone(), &t.namespace);
                let done = |j: Option<&Job>| job_outcome(j).is_some();
                tokio::time::timeout(timeout, await_condition(api, &t.name, done)).await.map(|r| {
                    r.map_err(|e| e.to_string()).and_then(|j| match j.as_ref().and_then(|j| job_outcome(Some(j))) {
                        Some(Ok(())) => Ok(()),
                        Some(Err(reason)) => Err(format!("job {} failed: {reason}", t.name)),
                        None => Err(format!("job {} was deleted before it completed", t.name)),
                    })
                })
            }
            "Pod" => {
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &t.namespace);
                let phase = |p: Option<&Pod>| p.and_then(|p| p.status.as_ref()?.phase.clone());
                let done = move |p: Option<&Pod>| matches!(phase(p).as_deref(), Some("Succeeded" | "Failed"));
                tokio::time::timeout(timeout, await_condition(api, &t.name, done)).await.map(|r| {
                    r.map_err(|e| e.to_string()).and_then(|p| match p.and_then(|p| p.status?.phase).as_deref() {
                        Some("Succeeded") => Ok(()),
                        _ => Err(format!("pod {} failed", t.name)),
                    })
                })
            }
            _ => return Ok(()),
        };
        result.unwrap_or_else(|_| {
            Err(format!(
                "timed out after {timeout:?} waiting for {} {}/{} to complete",
                t.kind.to_lowercase(),
                t.namespace,
                t.name
            ))
        })
    }
}

/// `Some(Ok)` on condition Complete, `Some(Err(reason))` on Failed, `None` while running.
fn job_outcome(job: Option<&Job>) -> Option<Result<(), String>> {
    let conds = job?.status.as_ref()?.conditions.as_ref()?;
    for c in conds {
        if c.status == "True" && c.type_ == "Complete" {
            return Some(Ok(()));
        }
        if c.status == "True" && c.type_ == "Failed" {
            return Some(Err(c.reason.clone().unwrap_or_else(|| "Failed".into())));
        }
    }
    None
}
