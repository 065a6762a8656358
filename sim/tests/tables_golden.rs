//! Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`) matches
//! kube-apiserver 1.35.4. `fixtures/tables-1.35.4.json` (written by
//! `resources/tables-golden/capture.py` against a real cluster) holds every listable
//! resource's column definitions and, per object of `resources/tables-golden/objects.yaml`
//! (plus a few the cluster had), its stored JSON and the Table row the real server printed.
//! Cells of times relative to now (Age, Created At, Last Seen, First Seen, and cells past the
//! last column) are normalised to "<age>".

mod common;

use cleanroom_sim::api::table::{to_table, IncludeObject};
use serde_json::Value;

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

fn fixture() -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tables-1.35.4.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn normalise(defs: &[Value], cells: &[Value]) -> Vec<Value> {
    cells
        .iter()
        .enumerate()
        .map(|(n, c)| match defs.get(n) {
            Some(d) if !["Age", "Created At", "Last Seen", "First Seen"].contains(&d["name"].as_str().unwrap_or_default()) => c.clone(),
            _ => Value::from("<age>"),
        })
        .collect()
}

/// Differences between the real column definitions and the sim's.
fn defs_differ(real: &[Value], sim: &[Value]) -> Option<String> {
    let key = |d: &Value| (d["name"].clone(), d["type"].clone(), d["format"].clone(), d["priority"].as_i64().unwrap_or(0));
    let same = real.len() == sim.len()
        && real.iter().zip(sim).all(|(r, s)| key(r) == key(s) && s["description"] == r["description"]);
    (!same).then(|| {
        let show = |ds: &[Value]| ds.iter().map(|d| format!("{:?} {:.40?}", key(d), d["description"])).collect::<Vec<_>>().join(" ");
        format!("real: {}\n   sim: {}", show(real), show(sim))
    })
}

fn rows(t: &Value) -> (Vec<Value>, Vec<Value>) {
    let defs = t["columnDefinitions"].as_array().cloned().unwrap_or_default();
    let cells = t["rows"][0]["cells"].as_array().cloned().unwrap_or_default();
    let cells = normalise(&defs, &cells);
    (defs, cells)
}

fn group_kind(o: &Value) -> (String, String) {
    let api_version = o["apiVersion"].as_str().unwrap();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    (group.to_string(), o["kind"].as_str().unwrap().to_string())
}

/// Every captured object, printed by the sim's printers from the very JSON the real server
/// printed it from.
#[test]
fn printers_match_kube_apiserver_cells() {
    let fx = fixture();
    let mut problems = Vec::new();
    for e in fx["objects"].as_array().unwrap() {
        let (group, kind) = group_kind(&e["object"]);
        let t = to_table(&group, &kind, &[&e["object"]], chrono::Utc::now(), IncludeObject::None, None);
        let (defs, cells) = rows(&t);
        let real_defs = e["columnDefinitions"].as_array().unwrap();
        if let Some(d) = defs_differ(real_defs, &defs) {
            problems.push(format!("{} columns:\n   {d}", e["path"]));
        }
        if cells != *e["cells"].as_array().unwrap() {
            problems.push(format!("{} cells:\n   real: {}\n   sim:  {}", e["path"], e["cells"], Value::from(cells)));
        }
    }
    assert!(problems.is_empty(), "{} difference(s):\n{}", problems.len(), problems.join("\n"));
}

struct Api {
    kube: kube::Client,
}

impl Api {
    async fn send(&self, method: &str, path: &str, accept: &str, body: Option<&Value>) -> Result<Value, String> {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("accept", accept)
            .header("content-type", "application/json")
            .body(body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default())
            .unwrap();
        self.kube.request::<Value>(req).await.map_err(|e| format!("{method} {path}: {e}"))
    }
}

/// Loads a captured object into the embedded cluster: create, then its status (and a CSR's
/// approval) through the subresources, as the real server's controllers and clients wrote it.
async fn load(api: &Api, path: &str, obj: &Value) -> Result<(), String> {
    let mut o = obj.clone();
    let md = o["metadata"].as_object_mut().unwrap();
    for k in ["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"] {
        md.remove(k);
    }
    let status = o.as_object_mut().unwrap().remove("status");
    let collection = path.rsplit_once('/').unwrap().0;
    api.send("POST", collection, "application/json", Some(&o)).await?;
    let Some(status) = status.filter(|s| s.as_object().is_some_and(|m| !m.is_empty())) else { return Ok(()) };
    if o["kind"] == "Namespace" {
        return Ok(());
    }
    let sub = if o["kind"] == "CertificateSigningRequest" { "approval" } else { "status" };
    // The resourcequota controller writes a new quota's status once: let it, then write the captured one
    // over it (a status-only write does not make it recount), so it cannot overwrite the captured one.
    // The HPA controller's first sync writes a new autoscaler's status, and the next comes 15 s later.
    let written_first = match o["kind"].as_str() {
        Some("ResourceQuota") => Some("/status/used"),
        Some("HorizontalPodAutoscaler") => Some("/status/desiredReplicas"),
        _ => None,
    };
    if let Some(field) = written_first {
        for _ in 0..200 {
            if api.send("GET", path, "application/json", None).await?.pointer(field).is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    // The sim's controllers write some of these statuses too: retry on a conflict.
    let mut last = String::new();
    for _ in 0..5 {
        let mut stored = api.send("GET", path, "application/json", None).await?;
        stored["status"] = status.clone();
        match api.send("PUT", &format!("{path}/{sub}"), "application/json", Some(&stored)).await {
            Ok(_) => return Ok(()),
            Err(e) if e.contains("Conflict") => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// The captured objects loaded into the embedded cluster print the real server's rows, and
/// every listable resource has the real server's columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_cluster_tables_match_kube_apiserver() {
    let h = common::Harness::start().await;
    let api = Api { kube: h.sim.client() };
    let fx = fixture();
    let mut problems = Vec::new();
    for e in fx["objects"].as_array().unwrap().iter().filter(|e| e["created"] == true) {
        let path = e["path"].as_str().unwrap();
        if let Err(err) = load(&api, path, &e["object"]).await {
            problems.push(format!("{path} load: {err}"));
            continue;
        }
        let t = match api.send("GET", path, TABLE, None).await {
            Ok(t) => t,
            Err(err) => {
                problems.push(err);
                continue;
            }
        };
        let (defs, cells) = rows(&t);
        if let Some(d) = defs_differ(e["columnDefinitions"].as_array().unwrap(), &defs) {
            problems.push(format!("{path} columns:\n   {d}"));
        }
        let mut want = e["cells"].as_array().unwrap().clone();
        if e["object"]["kind"] == "CertificateSigningRequest" {
            // A CSR's requester is the user who creates it: kind's (and the sim's) admin.
            want[3] = Value::from("kubernetes-admin");
        }
        if cells != want {
            problems.push(format!("{path} cells:\n   real: {}\n   sim:  {}", Value::from(want), Value::from(cells)));
        }
    }
    for (path, real) in fx["columns"].as_object().unwrap() {
        match api.send("GET", &format!("{path}?limit=1"), TABLE, None).await {
            Ok(t) => {
                if let Some(d) = defs_differ(real.as_array().unwrap(), t["columnDefinitions"].as_array().map_or(&[][..], Vec::as_slice)) {
                    problems.push(format!("{path} columns:\n   {d}"));
                }
            }
            Err(err) => problems.push(err),
        }
    }
    assert!(problems.is_empty(), "{} difference(s):\n{}", problems.len(), problems.join("\n"));
}
