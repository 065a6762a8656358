//! OpenAPI v3 component schemas, as kube-apiserver publishes them: every built-in kind's
//! definition (from k8s-openapi's generated schemas, so names, descriptions and `$ref`s are
//! the upstream ones) tagged with `x-kubernetes-group-version-kind`, and one definition per
//! served CRD version built from its structural schema. `kubectl explain` looks the kind up
//! by that extension.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use k8s_openapi::api::{
    admissionregistration::v1 as admission, apps::v1 as apps, authentication::v1 as authn, authorization::v1 as authz,
    autoscaling::v1 as as1, autoscaling::v2 as as2, batch::v1 as batch, certificates::v1 as certs, coordination::v1 as coord,
    core::v1 as core, discovery::v1 as disc, events::v1 as events, flowcontrol::v1 as flow, networking::v1 as net, node::v1 as node,
    policy::v1 as policy, rbac::v1 as rbac, resource::v1 as resource, scheduling::v1 as sched, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use k8s_openapi::Resource;
use serde_json::{json, Map, Value};

use crate::registry::ResourceType;

const REF_PREFIX: &str = "#/components/schemas/";

struct Builtin {
    /// Every definition, keyed by its upstream name (`io.k8s.api.core.v1.Pod`).
    definitions: Map<String, Value>,
    /// (group, version, kind) → definition name.
    kinds: Vec<(String, String, String, String)>,
}

macro_rules! kinds {
    ($gen:ident, $out:ident; $($t:ty),* $(,)?) => {
        $(
            let schema = $gen.subschema_for::<$t>();
            let name = schema.get("$ref").and_then(|r| r.as_str()).unwrap_or("").trim_start_matches(REF_PREFIX).to_string();
            $out.push((<$t as Resource>::GROUP.to_string(), <$t as Resource>::VERSION.to_string(), <$t as Resource>::KIND.to_string(), name));
        )*
    };
}

fn builtin() -> &'static Builtin {
    static B: OnceLock<Builtin> = OnceLock::new();
    B.get_or_init(|| {
        let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
        let mut kinds = Vec::new();
        kinds!(generator, kinds;
            core::Binding, core::ComponentStatus, core::ConfigMap, core::Endpoints, core::Event, core::LimitRange, core::Namespace,
            core::Node, core::PersistentVolume, core::PersistentVolumeClaim, core::Pod, core::PodTemplate, core::ReplicationController,
            core::ResourceQuota, core::Secret, core::Service, core::ServiceAccount,
            admission::MutatingWebhookConfiguration, admission::ValidatingAdmissionPolicy, admission::ValidatingAdmissionPolicyBinding,
            admission::ValidatingWebhookConfiguration, CustomResourceDefinition, APIService,
            apps::ControllerRevision, apps::DaemonSet, apps::Deployment, apps::ReplicaSet, apps::StatefulSet,
            authn::SelfSubjectReview, authn::TokenReview, authz::LocalSubjectAccessReview, authz::SelfSubjectAccessReview,
            authz::SelfSubjectRulesReview, authz::SubjectAccessReview, as1::HorizontalPodAutoscaler, as2::HorizontalPodAutoscaler,
            batch::CronJob, batch::Job, certs::CertificateSigningRequest, coord::Lease, disc::EndpointSlice, events::Event,
            flow::FlowSchema, flow::PriorityLevelConfiguration, net::IPAddress, net::Ingress, net::IngressClass, net::NetworkPolicy,
            net::ServiceCIDR, node::RuntimeClass, policy::PodDisruptionBudget, rbac::ClusterRole, rbac::ClusterRoleBinding, rbac::Role,
            rbac::RoleBinding, resource::DeviceClass, resource::ResourceClaim, resource::ResourceClaimTemplate, resource::ResourceSlice,
            sched::PriorityClass, storage::CSIDriver, storage::CSINode, storage::CSIStorageCapacity, storage::StorageClass,
            storage::VolumeAttachment, storage::VolumeAttributesClass,
        );
        // Custom resources' metadata refers to ObjectMeta.
        generator.subschema_for::<ObjectMeta>();
        let mut definitions = generator.take_definitions(true);
        add_enums(&mut definitions);
        for (group, version, kind, name) in &kinds {
            if let Some(d) = definitions.get_mut(name).and_then(|d| d.as_object_mut()) {
                let gvks = d.entry("x-kubernetes-group-version-kind").or_insert_with(|| json!([]));
                if let Some(a) = gvks.as_array_mut() {
                    a.push(json!({"group": group, "kind": kind, "version": version}));
                }
            }
        }
        Builtin { definitions, kinds }
    })
}

/// kube-apiserver 1.35.4's enum-typed properties (captured by
/// resources/capture_openapi_enums.py): k8s-openapi's schemas lack the `enum` arrays and the
/// "Possible enum values" part of the descriptions, both of which `kubectl explain` prints.
const ENUMS: &str = include_str!("../../resources/openapi-enums.json");

fn add_enums(definitions: &mut Map<String, Value>) {
    let enums: Map<String, Value> = serde_json::from_str(ENUMS).expect("openapi-enums.json parses");
    for (name, props) in enums {
        let Some(target) = definitions.get_mut(&name).and_then(|d| d.get_mut("properties")).and_then(Value::as_object_mut) else { continue };
        for (prop, e) in props.as_object().into_iter().flatten() {
            let Some(schema) = target.get_mut(prop).and_then(Value::as_object_mut) else { continue };
            schema.insert("description".into(), e["description"].clone());
            match (e.get("enum"), e.get("itemsEnum"), schema.get_mut("items").and_then(Value::as_object_mut)) {
                (Some(values), _, _) => {
                    schema.insert("enum".into(), values.clone());
                }
                (_, Some(values), Some(items)) => {
                    items.insert("enum".into(), values.clone());
                }
                _ => {}
            }
        }
    }
}

/// The definitions a group-version document carries: its kinds' and everything they refer to.
pub fn components(types: &[std::sync::Arc<ResourceType>]) -> Map<String, Value> {
    let b = builtin();
    let mut out = Map::new();
    let mut todo: Vec<String> = Vec::new();
    for rt in types {
        match &rt.crd {
            Some(_) => {
                let (name, schema) = custom_definition(rt);
                out.insert(name, schema);
                todo.push("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into());
            }
            None => {
                if let Some((_, _, _, name)) = b.kinds.iter().find(|(g, v, k, _)| *g == rt.group && *v == rt.version && *k == rt.kind) {
                    todo.push(name.clone());
                }
            }
        }
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(def) = b.definitions.get(&name) else { continue };
        collect_refs(def, &mut todo);
        out.insert(name, def.clone());
    }
    out
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                out.push(r.trim_start_matches(REF_PREFIX).to_string());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// A CRD version's definition as the apiextensions OpenAPI builder names and shapes it:
/// `<reversed group>.<version>.<Kind>`, with the standard apiVersion/kind/metadata fields.
fn custom_definition(rt: &ResourceType) -> (String, Value) {
    let mut reversed: Vec<&str> = rt.group.split('.').collect();
    reversed.reverse();
    let name = format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind);
    let mut schema = rt.crd.as_ref().and_then(|c| c.schema.clone()).unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if !schema.is_object() {
        schema = json!({"type": "object"});
    }
    let props = schema.as_object_mut().unwrap().entry("properties").or_insert_with(|| json!({}));
    if let Some(p) = props.as_object_mut() {
        p.insert("apiVersion".into(), json!({"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"}));
        p.insert("kind".into(), json!({"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"}));
        p.insert("metadata".into(), json!({"allOf": [{"$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")}], "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}));
    }
    schema["x-kubernetes-group-version-kind"] = json!([{"group": rt.group, "kind": rt.kind, "version": rt.version}]);
    (name, schema)
}
