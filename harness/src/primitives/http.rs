//! HTTP checks against a Service's pods (e.g. "Grafana answers with its admin password").
//! On real clusters the request goes through a port-forward to a Ready backing pod; on providers whose
//! pods run no containers (the embedded cluster, kwok: capability `containers`) the step is skipped with
//! that reason.

use std::time::Duration;

use base64::Engine;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{Api, ListParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BasicAuth {
    pub username: String,
    /// The password comes from a Secret (never from the scenario file, never printed).
    pub password_from: SecretKeyRef,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Get {
    pub service: String,
    pub namespace: String,
    /// Service port (number); the first port when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default = "root")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default = "ok")]
    pub expect_status: u16,
}

fn root() -> String {
    "/".into()
}
fn ok() -> u16 {
    200
}

impl Primitive for Get {
    fn describe(&self) -> String {
        format!("GET {} on service {}/{}", self.path, self.namespace, self.service)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            if !ctx.capabilities.containers {
                return Ok(StepOutcome::skip(format!(
                    "GET {} on service {}/{} is not available on provider `{}`: its pods run no containers, so nothing answers HTTP",
                    self.path, self.namespace, self.service, ctx.provider
                )));
            }
            let status = self.request(ctx).await?;
            if status != self.expect_status {
                return Err(StepError::Failed(format!(
                    "GET {} on {}/{} answered {status}, expected {}",
                    self.path, self.namespace, self.service, self.expect_status
                )));
            }
            Ok(StepOutcome::done(format!("GET {} on {}/{} answered {status}", self.path, self.namespace, self.service)))
        })
    }
}

impl Get {
    async fn request(&self, ctx: &mut StepContext) -> Result<u16, StepError> {
        let svc: Service = Api::namespaced(ctx.client.clone(), &self.namespace)
            .get(&self.service)
            .await
            .map_err(StepError::kube(format!("get service {}/{}", self.namespace, self.service)))?;
        let spec = svc.spec.unwrap_or_default();
        let ports = spec.ports.unwrap_or_default();
        let sp = match self.port {
            Some(p) => ports.iter().find(|x| x.port == p),
            None => ports.first(),
        }
        .ok_or_else(|| StepError::Failed(format!("service {}/{} has no port {:?}", self.namespace, self.service, self.port)))?;
        let selector = spec.selector.unwrap_or_default();
        let sel = selector.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &self.namespace);
        let list = pods.list(&ListParams::default().labels(&sel)).await.map_err(StepError::kube("list backing pods"))?;
        let pod = list
            .items
            .iter()
            .find(|p| p.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")))
            .ok_or_else(|| StepError::Failed(format!("no Ready pod backs service {}/{} (selector {sel})", self.namespace, self.service)))?;
        let target = match &sp.target_port {
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p)) => *p,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(name)) => pod
                .spec
                .as_ref()
                .into_iter()
                .flat_map(|s| s.containers.iter())
                .flat_map(|c| c.ports.clone().unwrap_or_default())
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port)
                .ok_or_else(|| StepError::Failed(format!("pod has no container port named {name}")))?,
            None => sp.port,
        };
        let auth = match &self.basic_auth {
            Some(b) => {
                let s: Secret = Api::namespaced(ctx.client.clone(), &self.namespace)
                    .get(&b.password_from.name)
                    .await
                    .map_err(StepError::kube(format!("get secret {}", b.password_from.name)))?;
                let pw = s.data.unwrap_or_default().get(&b.password_from.key).map(|v| v.0.clone()).ok_or_else(|| {
                    StepError::Failed(format!("secret {} has no key {}", b.password_from.name, b.password_from.key))
                })?;
                let mut cred = format!("{}:", b.username).into_bytes();
                cred.extend(pw);
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(cred)))
            }
            None => None,
        };
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let mut pf = pods.portforward(&pod_name, &[target as u16]).await.map_err(StepError::kube(format!("port-forward to pod {pod_name}")))?;
        let stream = pf.take_stream(target as u16).ok_or_else(|| StepError::Failed("port-forward gave no stream".into()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| StepError::Failed(format!("HTTP handshake with {pod_name}:{target}: {e}")))?;
        tokio::spawn(conn);
        let mut req = hyper::Request::get(&self.path).header("host", "localhost");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let req = req.body(http_body_util::Empty::<bytes::Bytes>::new()).map_err(|e| StepError::Failed(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
            .await
            .map_err(|_| StepError::Failed(format!("no HTTP answer from {pod_name}:{target} within 30s")))?
            .map_err(|e| StepError::Failed(format!("HTTP request to {pod_name}:{target}: {e}")))?;
        Ok(resp.status().as_u16())
    }
}
