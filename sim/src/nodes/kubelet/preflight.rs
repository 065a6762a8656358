//! What a kubelet checks before it starts containers, deterministically and without running
//! anything: the image reference parses, ConfigMap/Secret volumes can be set up, and
//! `env`/`envFrom` sources exist. The messages are the kubelet's.

use crate::api::object::At;
use serde_json::Value;

use crate::api::object;
use crate::server::ApiServer;

/// Why a container cannot be created yet (`state.waiting`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub reason: &'static str,
    pub message: String,
}

/// `distribution/reference.ParseNormalizedNamed` as the kubelet's `applyDefaultImageTag` calls
/// it (`images/image_manager.go`, `util/parsers`): `Some(message)` when the reference is invalid.
pub fn invalid_image(image: &str) -> Option<String> {
    let err = parse_reference(image).err()?;
    Some(format!("Failed to apply default image tag {image:?}: couldn't parse image name {image:?}: {err}"))
}

fn parse_reference(s: &str) -> Result<(), String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err(format!("invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"));
    }
    let (name_tag, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s, None),
    };
    // A domain is the first component when it has a '.' or ':' or is localhost (or has capitals).
    let (domain, rest) = match name_tag.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first => (Some(first), rest),
        _ => (None, name_tag),
    };
    let (remote, tag) = match rest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (rest, None),
    };
    if remote.to_lowercase() != remote {
        let full = if domain.is_none() && !remote.contains('/') { format!("library/{remote}") } else { remote.to_string() };
        return Err(format!("invalid reference format: repository name ({full}) must be lowercase"));
    }
    const INVALID: &str = "invalid reference format";
    if remote.is_empty() {
        return Err(if s.is_empty() { "repository name must have at least one component".into() } else { INVALID.into() });
    }
    if domain.is_some_and(|d| !valid_domain(d)) || !remote.split('/').all(valid_path_component) {
        return Err(INVALID.into());
    }
    if tag.is_some_and(|t| !valid_tag(t)) {
        return Err(INVALID.into());
    }
    if let Some(d) = digest {
        let Some((alg, hex)) = d.split_once(':') else { return Err(INVALID.into()) };
        let alg_ok = !alg.is_empty() && alg.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && alg.chars().all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c));
        if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(INVALID.into());
        }
        if alg == "sha256" && hex.len() != 64 {
            return Err("invalid checksum digest length".into());
        }
    }
    let name_len = domain.map_or(0, |d| d.len() + 1) + remote.len();
    if name_len > 255 {
        return Err("repository name must not be more than 255 characters".into());
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_domain(d: &str) -> bool {
    // `host[:port]`, where host is DNS labels or a bracketed IPv6 address.
    let (host, port) = if let Some(end) = d.strip_prefix('[').and_then(|r| r.find(']')) {
        let rest = &d[end + 2..];
        if !d[1..end + 1].chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        ("ipv6", if rest.is_empty() { None } else { Some(rest.strip_prefix(':').unwrap_or("x")) })
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    !host.is_empty() && host.split('.').all(|l| {
        let b = l.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric() && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
    })
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !t.is_empty() && t.len() <= 128 && t.chars().next().is_some_and(word) && t.chars().all(|c| word(c) || c == '.' || c == '-')
}

fn get(server: &ApiServer, kind: &str, ns: &str, name: &str) -> Option<std::sync::Arc<Value>> {
    server.store.get(if kind == "configmap" { "configmaps" } else { "secrets" }, ns, name)
}

fn has_key(obj: &Value, key: &str) -> bool {
    obj["data"].get(key).is_some() || obj["binaryData"].get(key).is_some() || obj["stringData"].get(key).is_some()
}

/// The first ConfigMap/Secret volume the kubelet cannot set up: `(volume, error)`, as in
/// `MountVolume.SetUp failed for volume "<volume>" : <error>` (`volume/configmap`, `volume/secret`).
pub fn volume_error(server: &ApiServer, pod: &Value) -> Option<(String, String)> {
    let ns = object::ns_of(pod);
    for v in pod.at("/spec/volumes").and_then(|v| v.as_array()).into_iter().flatten() {
        let (kind, src, name) = if let Some(s) = v.get("configMap") {
            ("configmap", s, s["name"].as_str())
        } else if let Some(s) = v.get("secret") {
            ("secret", s, s["secretName"].as_str())
        } else {
            continue;
        };
        let (Some(name), optional) = (name, src["optional"] == true) else { continue };
        let vol = v["name"].as_str().unwrap_or("").to_string();
        match get(server, kind, ns, name) {
            None if optional => {}
            None => return Some((vol, format!("{kind} {name:?} not found"))),
            Some(obj) => {
                for item in src["items"].as_array().into_iter().flatten() {
                    let key = item["key"].as_str().unwrap_or("");
                    if !has_key(&obj, key) && !optional {
                        let what = if kind == "configmap" { "configmap references non-existent config key" } else { "references non-existent secret key" };
                        return Some((vol, format!("{what}: {key}")));
                    }
                }
            }
        }
    }
    None
}

/// Why `container`'s environment cannot be built (`kubelet_pods.go` `makeEnvironmentVariables`):
/// a missing non-optional `envFrom` source or `valueFrom` reference.
pub fn env_error(server: &ApiServer, pod: &Value, container: &Value) -> Option<String> {
    let ns = object::ns_of(pod);
    for from in container["envFrom"].as_array().into_iter().flatten() {
        for (field, kind) in [("configMapRef", "configmap"), ("secretRef", "secret")] {
            let Some(r) = from.get(field) else { continue };
            let name = r["name"].as_str().unwrap_or("");
            if r["optional"] != true && get(server, kind, ns, name).is_none() {
                return Some(format!("{kind} {name:?} not found"));
            }
        }
    }
    for env in container["env"].as_array().into_iter().flatten() {
        for (field, kind, label) in [("configMapKeyRef", "configmap", "ConfigMap"), ("secretKeyRef", "secret", "Secret")] {
            let Some(r) = env.at(&format!("/valueFrom/{field}")) else { continue };
            if r["optional"] == true {
                continue;
            }
            let (name, key) = (r["name"].as_str().unwrap_or(""), r["key"].as_str().unwrap_or(""));
            match get(server, kind, ns, name) {
                None => return Some(format!("{kind} {name:?} not found")),
                Some(obj) if !has_key(&obj, key) => return Some(format!("couldn't find key {key} in {label} {ns}/{name}")),
                Some(_) => {}
            }
        }
    }
    None
}

/// The first reason each container cannot be created: invalid image, then its environment.
pub fn container_blocks(server: &ApiServer, pod: &Value) -> Vec<(String, Blocked)> {
    let mut out = Vec::new();
    for c in pod.at("/spec/containers").and_then(|c| c.as_array()).into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("").to_string();
        if let Some(message) = invalid_image(c["image"].as_str().unwrap_or("")) {
            out.push((name, Blocked { reason: "InvalidImageName", message }));
        } else if let Some(message) = env_error(server, pod, c) {
            out.push((name, Blocked { reason: "CreateContainerConfigError", message }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_parse_as_the_kubelet_parses_them() {
        for ok in ["nginx", "nginx:1.27", "docker.io/library/nginx:1.27", "quay.io/prometheus/prometheus:v3.5.0", "localhost:5000/a/b_c__d-e:tag",
            "registry.k8s.io/pause@sha256:0000000000000000000000000000000000000000000000000000000000000000", "[::1]:5000/x", "[::1]/x"] {
            assert_eq!(parse_reference(ok), Ok(()), "{ok}");
        }
        assert_eq!(parse_reference("Nginx:1.27").unwrap_err(), "invalid reference format: repository name (library/Nginx) must be lowercase");
        for bad in ["nginx:", "nginx::1", "-nginx", "nginx:1.27 ", "ngin x", "nginx/", "quay.io//x", "nginx@sha256:abc", "nginx:-tag"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
        assert_eq!(invalid_image("nginx:").unwrap(), "Failed to apply default image tag \"nginx:\": couldn't parse image name \"nginx:\": invalid reference format");
    }
}
