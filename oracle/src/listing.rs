//! One page of a list, decoded into what an [`ObjectEntry`] keeps and nothing else: `spec` and
//! `status` are kept as raw text and read only for the few fields the oracle needs, and every other
//! field (Secret data, ConfigMap data, managed-field sets, annotation values other than Helm's) is
//! skipped unparsed. Decoding whole objects into `DynamicObject`s was most of an inventory's time.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::inventory::{ObjectEntry, OwnerRef};
use cleanroom_core::resources::Resolved;

#[derive(Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    pub metadata: PageMeta,
    #[serde(default)]
    pub items: Vec<Item>,
}

#[derive(Default, Deserialize)]
pub(crate) struct PageMeta {
    #[serde(default, rename = "continue")]
    pub continue_: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Item {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: Option<Box<RawValue>>,
    #[serde(default)]
    status: Option<Box<RawValue>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    annotations: HelmAnnotations,
    owner_references: Option<Vec<OwnerRef>>,
    finalizers: Option<Vec<String>>,
    deletion_timestamp: Option<String>,
    managed_fields: Option<Vec<Manager>>,
}

#[derive(Deserialize)]
struct Manager {
    #[serde(default)]
    manager: Option<String>,
}

/// The two annotations the oracle reads; other values are skipped, not copied.
#[derive(Default)]
struct HelmAnnotations {
    resource_policy: Option<String>,
    hook: Option<String>,
}

impl<'de> Deserialize<'de> for HelmAnnotations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HelmAnnotations;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_unit<E>(self) -> Result<HelmAnnotations, E> {
                Ok(HelmAnnotations::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<HelmAnnotations, A::Error> {
                let mut out = HelmAnnotations::default();
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*k {
                        "helm.sh/resource-policy" => out.resource_policy = Some(m.next_value()?),
                        "helm.sh/hook" => out.hook = Some(m.next_value()?),
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields read from `spec` and `status`; absent when they have another shape.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Picked {
    claim_ref: Option<ClaimRef>,
    persistent_volume_reclaim_policy: Option<serde_json::Value>,
    phase: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ClaimRef {
    #[serde(default)]
    namespace: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<serde_json::Value>,
}

fn pick(raw: &Option<Box<RawValue>>) -> Picked {
    raw.as_deref().and_then(|r| serde_json::from_str(r.get()).ok()).unwrap_or_default()
}

fn string(v: Option<serde_json::Value>) -> Option<String> {
    match v {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

impl Item {
    pub(crate) fn entry(self, r: &Resolved) -> ObjectEntry {
        let m = self.metadata;
        let spec = pick(&self.spec);
        let labels = m.labels.unwrap_or_default();
        ObjectEntry {
            group: r.ar.group.clone(),
            version: r.ar.version.clone(),
            kind: r.ar.kind.clone(),
            plural: r.ar.plural.clone(),
            namespace: if r.namespaced { m.namespace } else { None },
            name: m.name.unwrap_or_default(),
            uid: m.uid.unwrap_or_default(),
            service_name: labels.get("kubernetes.io/service-name").cloned(),
            labels,
            owners: m.owner_references.unwrap_or_default(),
            finalizers: m.finalizers.unwrap_or_default(),
            phase: string(pick(&self.status).phase),
            deletion_timestamp: m.deletion_timestamp,
            resource_policy: m.annotations.resource_policy,
            claim: spec.claim_ref.and_then(|c| Some(format!("{}/{}", string(c.namespace)?, string(c.name)?))),
            reclaim_policy: string(spec.persistent_volume_reclaim_policy),
            helm_hook: m.annotations.hook,
            managers: m.managed_fields.into_iter().flatten().filter_map(|f| f.manager).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ApiResource;

    fn resolved(kind: &str, namespaced: bool) -> Resolved {
        let ar = ApiResource { group: "".into(), version: "v1".into(), api_version: "v1".into(), kind: kind.into(), plural: format!("{}s", kind.to_lowercase()) };
        Resolved { ar, namespaced }
    }

    #[test]
    fn a_page_keeps_the_fields_the_oracle_reads() {
        let page: Page = serde_json::from_str(r#"{"kind":"SecretList","metadata":{"continue":"abc"},"items":[
            {"metadata":{"name":"s","namespace":"ns","uid":"u1","labels":{"a":"b"},
              "annotations":{"helm.sh/resource-policy":"keep","helm.sh/hook":"pre-install","big":"x"},
              "ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":"p","uid":"u0","controller":true}],
              "finalizers":["f"],"deletionTimestamp":"2026-01-01T00:00:00Z",
              "managedFields":[{"manager":"helm","operation":"Update","fieldsV1":{"f:data":{}}}]},
             "data":{"password":"c2VjcmV0"},"type":"Opaque"}]}"#).unwrap();
        assert_eq!(page.metadata.continue_.as_deref(), Some("abc"));
        let e = page.items.into_iter().next().unwrap().entry(&resolved("Secret", true));
        assert_eq!((e.namespace.as_deref(), e.name.as_str(), e.uid.as_str()), (Some("ns"), "s", "u1"));
        assert_eq!(e.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!((e.resource_policy.as_deref(), e.helm_hook.as_deref()), (Some("keep"), Some("pre-install")));
        assert_eq!(e.owners, vec![OwnerRef { kind: "Pod".into(), name: "p".into(), uid: "u0".into() }]);
        assert_eq!((e.finalizers, e.deletion_timestamp.as_deref()), (vec!["f".to_string()], Some("2026-01-01T00:00:00Z")));
        assert_eq!(e.managers, vec!["helm".to_string()]);
    }

    #[test]
    fn spec_and_status_of_any_shape_are_read_leniently() {
        let page: Page = serde_json::from_str(r#"{"items":[
            {"metadata":{"name":"pv"},"spec":{"claimRef":{"namespace":"m","name":"c"},"persistentVolumeReclaimPolicy":"Retain","capacity":{"storage":"1Gi"}},"status":{"phase":"Released"}},
            {"metadata":{"name":"odd","annotations":null},"spec":"a string","status":[1,2]},
            {"metadata":{"name":"bad"},"spec":{"claimRef":{"name":"c"}},"status":{"phase":3}}]}"#).unwrap();
        let e: Vec<ObjectEntry> = page.items.into_iter().map(|i| i.entry(&resolved("PersistentVolume", false))).collect();
        assert_eq!((e[0].claim.as_deref(), e[0].reclaim_policy.as_deref(), e[0].phase.as_deref()), (Some("m/c"), Some("Retain"), Some("Released")));
        assert_eq!((e[1].claim.as_deref(), e[1].phase.as_deref()), (None, None));
        assert_eq!((e[2].claim.as_deref(), e[2].phase.as_deref()), (None, None));
    }
}
