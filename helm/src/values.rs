//! User-supplied values (`-f` files then `--set`), merged as Helm does, for the release record's
//! `config` and for matching a request against the render catalogue. Values may hold passwords:
//! nothing here logs them.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::RenderError;

/// Deep-merge `src` into `dst` (maps merge, anything else replaces), like Helm's `mergeMaps`.
pub fn merge(dst: &mut Map<String, Value>, src: &Map<String, Value>) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => merge(d, s),
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

pub fn read_values_file(path: &Path) -> Result<Map<String, Value>, RenderError> {
    let text = std::fs::read_to_string(path).map_err(|source| RenderError::Io { path: path.to_path_buf(), source })?;
    let v: Value = serde_saphyr::from_str(&text).map_err(|e| RenderError::Parse {
        path: path.to_path_buf(),
        message: format!("not a YAML values file: {e}"),
    })?;
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        _ => Err(RenderError::Parse { path: path.to_path_buf(), message: "a values file must be a YAML map".into() }),
    }
}

/// Helm's strvals typing: `true`/`false`/`null`, integers, otherwise a string. Surrounding
/// double quotes are taken as shell quoting (`medium=""` is what a shell passes as `medium=`).
fn typed(raw: &str) -> Value {
    let raw = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => match raw.parse::<i64>() {
            Ok(n) if !(raw.len() > 1 && raw.starts_with('0')) => Value::from(n),
            _ => Value::String(raw.to_string()),
        },
    }
}

/// Apply one `--set` argument (`a.b=c,d=e`; a leading `--set ` is accepted, so lines of a
/// `*-set.txt` file can be passed verbatim).
pub fn apply_set(dst: &mut Map<String, Value>, arg: &str) -> Result<(), String> {
    let arg = arg.trim();
    let arg = arg.strip_prefix("--set").map(str::trim_start).unwrap_or(arg);
    let arg = arg.strip_prefix('=').unwrap_or(arg);
    if arg.is_empty() {
        return Ok(());
    }
    // Split on commas that start a new `key=`; a comma inside a value without `=` stays.
    let mut pairs: Vec<String> = vec![];
    for part in arg.split(',') {
        match pairs.last_mut() {
            Some(last) if !part.contains('=') => {
                last.push(',');
                last.push_str(part);
            }
            _ => pairs.push(part.to_string()),
        }
    }
    for pair in pairs {
        let (key, raw) = pair.split_once('=').ok_or_else(|| format!("--set {pair:?}: expected key=value"))?;
        let path: Vec<&str> = key.trim().split('.').collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(format!("--set {key:?}: empty key segment"));
        }
        let mut cur = &mut *dst;
        for seg in &path[..path.len() - 1] {
            let slot = cur.entry(seg.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            cur = slot.as_object_mut().expect("object");
        }
        cur.insert(path[path.len() - 1].to_string(), typed(raw));
    }
    Ok(())
}

/// `-f` files in order, inline values, then `--set` in order.
pub fn user_values(
    files: &[PathBuf],
    inline: Option<&Value>,
    set: &[String],
) -> Result<Map<String, Value>, RenderError> {
    let mut out = Map::new();
    for f in files {
        merge(&mut out, &read_values_file(f)?);
    }
    if let Some(Value::Object(m)) = inline {
        merge(&mut out, m);
    }
    for s in set {
        apply_set(&mut out, s).map_err(RenderError::NoRender)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_typing_and_paths() {
        let mut m = Map::new();
        apply_set(&mut m, "--set prometheus.prometheusSpec.storageSpec.emptyDir.medium=\"\"").unwrap();
        apply_set(&mut m, "grafana.persistence.enabled=false,a.n=10,a.s=x,y").unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"prometheus": {"prometheusSpec": {"storageSpec": {"emptyDir": {"medium": ""}}}},
                   "grafana": {"persistence": {"enabled": false}}, "a": {"n": 10, "s": "x,y"}})
        );
    }
}
