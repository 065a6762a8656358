//! Install / upgrade / uninstall from a recorded render through kube-rs, with Helm v4's steps
//! (helm `pkg/action/install.go`, `upgrade.go`, `uninstall.go`): CRDs raw first, ownership check,
//! release Secret, hooks, server-side apply in InstallOrder, deletes in UninstallOrder.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use futures::future::{BoxFuture, join_all};
use kube::api::DeleteParams;
use serde_json::{Map, Value, json};

use super::catalog::RenderCatalog;
use super::error::{Failure, HelmError, RenderError, ownership_problems, resource_string};
use super::hooks::{self, hooks_from_record, record_hook};
use super::kubeops::{Kube, Target, api_message, is_already_exists};
use super::order::{UNINSTALL_ORDER, sort_by_kind};
use super::release::{ReleaseRecord, ReleaseStore, now_rfc3339};
use super::render::{ChartMeta, RESOURCE_POLICY_ANNOTATION, Render, RenderedDoc, parse_render};
use super::values::user_values;
use super::{
    Cascade, HelmEngine, InstallRequest, MANAGED_BY_LABEL, RELEASE_NAME_ANNOTATION, RELEASE_NAMESPACE_ANNOTATION,
    ReleaseInfo, ResourceRef, UninstallOptions, UninstallReport, uninstall_message,
};

/// Installs recorded renders (`helm template --include-crds` output) with Helm v4's semantics.
pub struct RecordedRenderEngine {
    kube: Kube,
    catalog: Option<RenderCatalog>,
}

/// A render ready to install, with the request's user values.
struct Prepared {
    render: Arc<Render>,
    chart: ChartMeta,
    config: Map<String, Value>,
}

fn reference(doc: &RenderedDoc, t: Option<&Target>) -> ResourceRef {
    let ns = match t {
        Some(t) => (!t.namespace.is_empty()).then(|| t.namespace.clone()),
        None => doc.namespace().map(str::to_string),
    };
    ResourceRef {
        api_version: doc.api_version().into(),
        kind: doc.kind().into(),
        namespace: ns,
        name: doc.name().into(),
    }
}


/// The manifest's objects as stored in a record (namespaces defaulted to the release's).
fn manifest_refs(rec: &ReleaseRecord) -> Vec<ResourceRef> {
    parse_render(&rec.manifest).map(|r| r.templates.iter().map(|d| reference(d, None)).collect()).unwrap_or_default()
}

/// Helm's ownership metadata on a manifest object.
fn with_ownership(obj: &Value, release: &str, ns: &str) -> Value {
    let mut o = obj.clone();
    let meta = &mut o["metadata"];
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    if !meta["annotations"].is_object() {
        meta["annotations"] = json!({});
    }
    meta["labels"][MANAGED_BY_LABEL] = json!("Helm");
    meta["annotations"][RELEASE_NAME_ANNOTATION] = json!(release);
    meta["annotations"][RELEASE_NAMESPACE_ANNOTATION] = json!(ns);
    o
}

/// Identity Helm compares manifests by: group, kind, namespace, name.
fn identity(t: &Target, api_version: &str) -> (String, String, String, String) {
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("").to_string();
    (group, t.kind.clone(), t.namespace.clone(), t.name.clone())
}

fn keep_policy(doc: &RenderedDoc) -> Option<bool> {
    doc.annotation(RESOURCE_POLICY_ANNOTATION).map(|p| p.trim().eq_ignore_ascii_case("keep"))
}

impl RecordedRenderEngine {
    /// Without a catalogue every request must name its render (`InstallRequest::render`).
    pub fn new(client: kube::Client) -> Self {
        RecordedRenderEngine { kube: Kube::new(client), catalog: None }
    }

    pub fn with_catalog(client: kube::Client, catalog: RenderCatalog) -> Self {
        RecordedRenderEngine { kube: Kube::new(client), catalog: Some(catalog) }
    }

    pub fn catalog(&self) -> Option<&RenderCatalog> {
        self.catalog.as_ref()
    }

    /// With the workspace catalogue (`fixtures/renders.yaml`, see [`RenderCatalog::discover`]).
    pub fn discover(client: kube::Client) -> Result<Self, HelmError> {
        Ok(Self::with_catalog(client, RenderCatalog::discover()?))
    }

    async fn prepare(&self, req: &InstallRequest) -> Result<Prepared, HelmError> {
        let inline = (!req.values.is_empty()).then(|| Value::Object(req.values.clone()));
        let config = user_values(&req.values_files, inline.as_ref(), &req.set)?;
        let (path, catalog_chart) = match (&req.render, &self.catalog) {
            (Some(p), _) => (p.clone(), None),
            (None, Some(c)) => {
                let r = c.lookup(&req.chart, req.version.as_deref(), &req.release, &req.namespace, &config)?;
                (r.path, Some(r.chart))
            }
            (None, None) => {
                return Err(RenderError::NoRender(format!(
                    "the recorded-render engine needs a render for chart {:?}: name one in the request or give the engine a catalogue (fixtures/renders.yaml)",
                    req.chart
                ))
                .into());
            }
        };
        let render = load_render(&path).await?;
        let chart = catalog_chart.or_else(|| render.chart.clone()).unwrap_or_else(|| ChartMeta {
            name: req.chart.rsplit('/').next().unwrap_or(&req.chart).to_string(),
            version: req.version.clone().unwrap_or_default(),
            app_version: None,
        });
        Ok(Prepared { render, chart, config })
    }

    fn new_record(&self, req: &InstallRequest, p: &Prepared, version: u32) -> ReleaseRecord {
        let now = now_rfc3339();
        let mut metadata = json!({"name": p.chart.name, "version": p.chart.version, "apiVersion": "v2"});
        if let Some(a) = &p.chart.app_version {
            metadata["appVersion"] = json!(a);
        }
        ReleaseRecord {
            name: req.release.clone(),
            namespace: req.namespace.clone(),
            version,
            chart: json!({ "metadata": metadata }),
            config: p.config.clone(),
            manifest: p.render.manifest.clone(),
            hooks: p.render.hooks.iter().map(record_hook).collect(),
            info: super::release::RecordInfo {
                first_deployed: Some(now.clone()),
                last_deployed: Some(now),
                ..Default::default()
            },
            apply_method: Some("ssa".into()),
        }
    }

    /// Resolve every manifest object (in install order); Helm's `Build`.
    async fn build(&self, render: &Render, ns: &str) -> Result<Vec<(RenderedDoc, Target)>, Failure> {
        let mut out = vec![];
        for doc in render.templates_in_install_order() {
            let t = self.kube.target(&doc.object, ns).await.map_err(|e| {
                Failure::Other(format!("unable to build kubernetes objects from release manifest: {e}"))
            })?;
            out.push((doc.clone(), t));
        }
        Ok(out)
    }

    /// `existingResourceConflict`: the first existing object without our ownership fails.
    async fn check_ownership(
        &self,
        objs: &[&(RenderedDoc, Target)],
        release: &str,
        ns: &str,
        op: &'static str,
    ) -> Result<(), Failure> {
        for (_, t) in objs {
            let rs = resource_string(&t.kind, &t.name, &t.namespace);
            let existing = self.kube.get(t).await.map_err(|e| {
                Failure::Other(format!("could not get information about the resource {rs}: {}", api_message(&e)))
            })?;
            if let Some(obj) = existing {
                let labels = serde_json::to_value(&obj.metadata.labels).unwrap_or_default();
                let annotations = serde_json::to_value(&obj.metadata.annotations).unwrap_or_default();
                if let Some(reason) = ownership_problems(&labels, &annotations, release, ns) {
                    return Err(Failure::Ownership { op, resource: rs, reason });
                }
            }
        }
        Ok(())
    }

    /// Server-side apply, kind by kind in order; objects of one kind in parallel (`batchPerform`).
    async fn apply_all(&self, objs: &[(RenderedDoc, Target)], release: &str, ns: &str) -> Result<(), Failure> {
        let mut i = 0;
        while i < objs.len() {
            let kind = &objs[i].1.kind;
            let end = objs[i..].iter().position(|(_, t)| &t.kind != kind).map_or(objs.len(), |n| i + n);
            let batch = objs[i..end].iter().map(|(doc, t)| async move {
                self.kube.apply(t, &with_ownership(&doc.object, release, ns)).await.map_err(|e| api_message(&e))
            });
            if let Some(Err(e)) = join_all(batch).await.into_iter().find(|r| r.is_err()) {
                return Err(Failure::Create(e));
            }
            i = end;
        }
        Ok(())
    }

    async fn install_crds(&self, render: &Render, timeout: std::time::Duration) -> Result<(), Failure> {
        for crd in &render.crds {
            if !self.kube.create_crd(&crd.object).await.map_err(Failure::Other)? {
                tracing::debug!(crd = crd.name(), "CRD is already present. Skipping");
            }
        }
        for crd in &render.crds {
            self.kube.wait_crd_established(crd.name(), timeout).await.map_err(Failure::Other)?;
        }
        Ok(())
    }

    async fn ensure_namespace(&self, ns: &str) -> Result<(), Failure> {
        use k8s_openapi::api::core::v1::Namespace;
        let api: kube::Api<Namespace> = kube::Api::all(self.kube.client.clone());
        let obj: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns, "labels": {"name": ns}}})).expect("namespace");
        match api.create(&Default::default(), &obj).await {
            Ok(_) => Ok(()),
            Err(e) if is_already_exists(&e) => Ok(()),
            Err(e) => Err(Failure::Other(api_message(&e))),
        }
    }

    async fn do_install(&self, req: &InstallRequest) -> Result<ReleaseInfo, HelmError> {
        let store = ReleaseStore::new(&self.kube.client, &req.namespace);
        let history = store.history(&req.release).await.map_err(|e| HelmError::Install(Failure::Other(e)))?;
        if !history.is_empty() {
            return Err(HelmError::Install(Failure::NameInUse));
        }
        let p = self.prepare(req).await?;
        let fail = HelmError::Install;
        self.install_crds(&p.render, req.timeout).await.map_err(fail)?;
        let objs = self.build(&p.render, &req.namespace).await.map_err(fail)?;
        if !req.take_ownership {
            let all: Vec<_> = objs.iter().collect();
            self.check_ownership(&all, &req.release, &req.namespace, "install").await.map_err(fail)?;
        }
        if req.create_namespace {
            self.ensure_namespace(&req.namespace).await.map_err(fail)?;
        }
        let mut rec = self.new_record(req, &p, 1);
        rec.set_status("pending-install", "Initial install underway");
        store.create(&rec).await.map_err(|e| fail(Failure::Other(e)))?;

        let result = async {
            hooks::run(&self.kube, &store, &mut rec, &p.render.hooks, "pre-install", req.timeout).await?;
            self.apply_all(&objs, &req.release, &req.namespace).await?;
            hooks::run(&self.kube, &store, &mut rec, &p.render.hooks, "post-install", req.timeout).await
        }
        .await;
        if let Err(e) = result {
            rec.set_status("failed", format!("Release {:?} failed: {e}", req.release));
            let _ = store.update(&rec).await;
            return Err(fail(e));
        }
        rec.set_status("deployed", "Install complete");
        store.update(&rec).await.map_err(|e| fail(Failure::Other(e)))?;
        Ok(rec.to_info(objs.iter().map(|(d, t)| reference(d, Some(t))).collect()))
    }

    async fn do_upgrade(&self, req: &InstallRequest, install_if_missing: bool) -> Result<ReleaseInfo, HelmError> {
        let fail = HelmError::Upgrade;
        let store = ReleaseStore::new(&self.kube.client, &req.namespace);
        let history = store.history(&req.release).await.map_err(|e| fail(Failure::Other(e)))?;
        let Some(last) = history.last().cloned() else {
            return if install_if_missing {
                self.do_install(req).await
            } else {
                Err(fail(Failure::NoDeployedReleases(req.release.clone())))
            };
        };
        if last.info.status.starts_with("pending") {
            return Err(fail(Failure::Other("another operation (install/upgrade/rollback) is in progress".into())));
        }
        let current = match history.iter().rev().find(|r| r.info.status == "deployed") {
            Some(r) => r.clone(),
            None if matches!(last.info.status.as_str(), "failed" | "superseded") => last.clone(),
            None => return Err(fail(Failure::NoDeployedReleases(req.release.clone()))),
        };
        let p = self.prepare(req).await?;
        let objs = self.build(&p.render, &req.namespace).await.map_err(fail)?;
        // The current manifest's objects, resolved (kinds that no longer resolve are gone anyway).
        let old_render = parse_render(&current.manifest).map_err(|e| fail(Failure::Other(e)))?;
        let mut old = vec![];
        for doc in &old_render.templates {
            if let Ok(t) = self.kube.target(&doc.object, &req.namespace).await {
                old.push((doc.clone(), t));
            }
        }
        let old_ids: HashSet<_> = old.iter().map(|(d, t)| identity(t, d.api_version())).collect();
        let new_ids: HashSet<_> = objs.iter().map(|(d, t)| identity(t, d.api_version())).collect();
        if !req.take_ownership {
            let to_create: Vec<_> =
                objs.iter().filter(|(d, t)| !old_ids.contains(&identity(t, d.api_version()))).collect();
            self.check_ownership(&to_create, &req.release, &req.namespace, "update").await.map_err(fail)?;
        }
        let version = history.iter().map(|r| r.version).max().unwrap_or(0) + 1;
        let mut rec = self.new_record(req, &p, version);
        rec.info.first_deployed = current.info.first_deployed.clone();
        rec.set_status("pending-upgrade", "Preparing upgrade");
        store.create(&rec).await.map_err(|e| fail(Failure::Other(e)))?;

        let result = async {
            hooks::run(&self.kube, &store, &mut rec, &p.render.hooks, "pre-upgrade", req.timeout).await?;
            self.apply_all(&objs, &req.release, &req.namespace).await?;
            let mut gone: Vec<_> =
                old.iter().filter(|(d, t)| !new_ids.contains(&identity(t, d.api_version()))).collect();
            sort_by_kind(&mut gone, UNINSTALL_ORDER, |(_, t)| t.kind.as_str());
            for (doc, t) in gone {
                if keep_policy(doc).is_some() {
                    continue; // Helm leaves any resource-policy'd object in place on upgrade.
                }
                self.kube.delete(t, &DeleteParams::background()).await.map_err(|e| {
                    Failure::Other(format!(
                        "failed to delete {}: {}",
                        resource_string(&t.kind, &t.name, &t.namespace),
                        api_message(&e)
                    ))
                })?;
            }
            hooks::run(&self.kube, &store, &mut rec, &p.render.hooks, "post-upgrade", req.timeout).await
        }
        .await;
        if let Err(e) = result {
            rec.set_status("failed", format!("Upgrade {:?} failed: {e}", req.release));
            let _ = store.update(&rec).await;
            return Err(fail(e));
        }
        let mut superseded = current;
        superseded.set_status("superseded", "Superseded");
        store.update(&superseded).await.map_err(|e| fail(Failure::Other(e)))?;
        rec.set_status("deployed", "Upgrade complete");
        store.update(&rec).await.map_err(|e| fail(Failure::Other(e)))?;
        Ok(rec.to_info(objs.iter().map(|(d, t)| reference(d, Some(t))).collect()))
    }

    async fn do_uninstall(
        &self,
        release: &str,
        ns: &str,
        opts: &UninstallOptions,
    ) -> Result<UninstallReport, HelmError> {
        let fail = HelmError::Uninstall;
        let store = ReleaseStore::new(&self.kube.client, ns);
        let history = store.history(release).await.map_err(|e| fail(Failure::Other(e)))?;
        let Some(mut rec) = history.last().cloned() else {
            return Err(fail(Failure::ReleaseNotLoaded(release.to_string())));
        };
        let mut report = UninstallReport { release: release.into(), namespace: ns.into(), ..Default::default() };
        if rec.info.status == "uninstalled" {
            if opts.keep_history {
                return Err(fail(Failure::AlreadyDeleted(release.to_string())));
            }
            purge(&store, &history).await.map_err(fail)?;
            report.message = uninstall_message(release, &[]);
            return Ok(report);
        }
        rec.set_status("uninstalling", "Deletion in progress (or silently failed)");
        rec.info.deleted = Some(now_rfc3339());
        store.update(&rec).await.map_err(|e| fail(Failure::Other(e)))?;
        let hook_docs = hooks_from_record(&rec);
        hooks::run(&self.kube, &store, &mut rec, &hook_docs, "pre-delete", opts.timeout).await.map_err(fail)?;

        let manifest = parse_render(&rec.manifest).map_err(|e| fail(Failure::Other(e)))?;
        let mut docs: Vec<&RenderedDoc> = manifest.templates.iter().collect();
        sort_by_kind(&mut docs, UNINSTALL_ORDER, |d| d.kind());
        let dp = match opts.cascade {
            Cascade::Background => DeleteParams::background(),
            Cascade::Foreground => DeleteParams::foreground(),
            Cascade::Orphan => DeleteParams::orphan(),
        };
        let mut errors = vec![];
        for doc in docs {
            match keep_policy(doc) {
                Some(true) => {
                    report.kept.push(reference(doc, None));
                    continue;
                }
                Some(false) => continue, // another policy value: neither deleted nor reported
                None => {}
            }
            // A kind that no longer resolves (its CRD is gone) has no objects left to delete.
            let Ok(t) = self.kube.target(&doc.object, ns).await else { continue };
            match self.kube.delete(&t, &dp).await {
                Ok(()) => report.deleted.push(reference(doc, Some(&t))),
                Err(e) => errors.push(api_message(&e)),
            }
        }
        hooks::run(&self.kube, &store, &mut rec, &hook_docs, "post-delete", opts.timeout).await.map_err(fail)?;
        if opts.keep_history {
            rec.set_status("uninstalled", "Uninstallation complete");
            store.update(&rec).await.map_err(|e| fail(Failure::Other(e)))?;
        } else {
            purge(&store, &history).await.map_err(fail)?;
        }
        if !errors.is_empty() {
            return Err(fail(Failure::Other(format!(
                "uninstallation completed with {} error(s): {}",
                errors.len(),
                errors.join("; ")
            ))));
        }
        report.message = uninstall_message(release, &report.kept);
        Ok(report)
    }
}

async fn purge(store: &ReleaseStore, history: &[ReleaseRecord]) -> Result<(), Failure> {
    for r in history {
        store.delete(&r.name, r.version).await.map_err(Failure::Other)?;
    }
    Ok(())
}

/// Parse a render off the async threads (the recorded ones are ~5 MB of YAML).
async fn load_render(path: &Path) -> Result<Arc<Render>, RenderError> {
    let text =
        tokio::fs::read_to_string(path).await.map_err(|source| RenderError::Io { path: path.to_path_buf(), source })?;
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        parse_render(&text).map(Arc::new).map_err(|message| RenderError::Parse { path: p, message })
    })
    .await
    .map_err(|e| RenderError::NoRender(format!("render parser panicked: {e}")))?
}

impl HelmEngine for RecordedRenderEngine {
    fn install<'a>(&'a self, req: &'a InstallRequest) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>> {
        Box::pin(self.do_install(req))
    }
    fn upgrade<'a>(
        &'a self,
        req: &'a InstallRequest,
        install_if_missing: bool,
    ) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>> {
        Box::pin(self.do_upgrade(req, install_if_missing))
    }
    fn uninstall<'a>(
        &'a self,
        release: &'a str,
        namespace: &'a str,
        opts: &'a UninstallOptions,
    ) -> BoxFuture<'a, Result<UninstallReport, HelmError>> {
        Box::pin(self.do_uninstall(release, namespace, opts))
    }
    fn list<'a>(&'a self, namespace: Option<&'a str>) -> BoxFuture<'a, Result<Vec<ReleaseInfo>, HelmError>> {
        Box::pin(async move {
            let store = match namespace {
                Some(ns) => ReleaseStore::new(&self.kube.client, ns),
                None => ReleaseStore::all_namespaces(&self.kube.client),
            };
            let all = store.all().await.map_err(|e| HelmError::Query(Failure::Other(e)))?;
            let mut latest: Vec<ReleaseRecord> = vec![];
            for r in all {
                match latest.iter_mut().find(|l| l.name == r.name && l.namespace == r.namespace) {
                    Some(l) if l.version < r.version => *l = r,
                    Some(_) => {}
                    None => latest.push(r),
                }
            }
            Ok(latest
                .iter()
                .filter(|r| matches!(r.info.status.as_str(), "deployed" | "failed"))
                .map(|r| r.to_info(vec![]))
                .collect())
        })
    }
    fn status<'a>(&'a self, release: &'a str, namespace: &'a str) -> BoxFuture<'a, Result<ReleaseInfo, HelmError>> {
        Box::pin(async move {
            let store = ReleaseStore::new(&self.kube.client, namespace);
            let history = store.history(release).await.map_err(|e| HelmError::Query(Failure::Other(e)))?;
            let rec = history.last().ok_or(HelmError::Query(Failure::NotFound))?;
            let mut refs = manifest_refs(rec);
            for r in &mut refs {
                // Namespaced objects without a namespace land in the release namespace.
                if r.namespace.is_none()
                    && self
                        .kube
                        .target(
                            &json!({"apiVersion": r.api_version, "kind": r.kind, "metadata": {"name": r.name}}),
                            namespace,
                        )
                        .await
                        .is_ok_and(|t| !t.namespace.is_empty())
                {
                    r.namespace = Some(namespace.to_string());
                }
            }
            Ok(rec.to_info(refs))
        })
    }
}
