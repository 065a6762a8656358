//! Field sets as in sigs.k8s.io/structured-merge-diff `fieldpath`: a tree of path elements
//! whose "members" are owned paths, serialized as `FieldsV1` (`f:`, `k:`, `v:`, `i:`, `.`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// One step of a field path. The derived order (field < key < value < index) is the order
/// structured-merge-diff serializes children in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    Field(String),
    /// Associative-list item: key field names with their compact JSON values, sorted by name.
    Key(Vec<(String, String)>),
    /// Set-list item: the compact JSON of the scalar.
    Value(String),
    Index(usize),
}

impl PathElement {
    pub fn field(s: &str) -> Self {
        PathElement::Field(s.to_string())
    }

    /// The `FieldsV1` key: `f:name`, `k:{"name":"x"}`, `v:"x"`, `i:0`.
    pub fn to_fields_v1(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(kv) => {
                let parts: Vec<String> = kv.iter().map(|(k, v)| format!("{}:{v}", Value::String(k.clone()))).collect();
                format!("k:{{{}}}", parts.join(","))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    pub fn from_fields_v1(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_once(':')?;
        match kind {
            "f" => Some(PathElement::Field(rest.to_string())),
            "v" => {
                let v: Value = serde_json::from_str(rest).ok()?;
                Some(PathElement::Value(v.to_string()))
            }
            "i" => rest.parse().ok().map(PathElement::Index),
            "k" => {
                let Value::Object(m) = serde_json::from_str::<Value>(rest).ok()? else { return None };
                let mut kv: Vec<(String, String)> = m.into_iter().map(|(k, v)| (k, v.to_string())).collect();
                kv.sort();
                Some(PathElement::Key(kv))
            }
            _ => None,
        }
    }

    /// `fieldpath.PathElement.String()`: `.name`, `[name="x"]`, `[="x"]`, `[0]`.
    pub fn display(&self) -> String {
        match self {
            PathElement::Field(f) => format!(".{f}"),
            PathElement::Key(kv) => {
                let parts: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
            PathElement::Value(v) => format!("[={v}]"),
            PathElement::Index(i) => format!("[{i}]"),
        }
    }
}

pub type Path = Vec<PathElement>;

pub fn path_string(p: &[PathElement]) -> String {
    p.iter().map(PathElement::display).collect()
}

/// A set of paths, stored as a trie (`fieldpath.Set`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Self {
        Set::default()
    }

    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Self {
        let mut s = Set::new();
        for p in paths {
            s.insert(p);
        }
        s
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether `path` or any path below it is in the set.
    pub fn has_at_or_below(&self, path: &[PathElement]) -> bool {
        match path {
            [] => !self.is_empty(),
            [last] => self.members.contains(last) || self.children.get(last).is_some_and(|c| !c.is_empty()),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has_at_or_below(rest)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Set::is_empty)
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Paths in `self` that are not in `other` (path-wise, not recursive).
    pub fn difference(&self, other: &Set) -> Set {
        let mut out = Set::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// Like `difference`, but a member of `other` also removes everything below it.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let mut out = Set::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let d = match other.children.get(pe) {
                Some(o) => c.recursive_difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let mut out = Set::new();
        out.members = self.members.intersection(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(pe.clone(), i);
                }
            }
        }
        out
    }

    /// All member paths: members of a level first, then children (`Set.Iterate`).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Serialize as a `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        let mut keys: BTreeSet<&PathElement> = self.members.iter().collect();
        keys.extend(self.children.keys());
        let mut m = Map::new();
        for pe in keys {
            let child = self.children.get(pe).filter(|c| !c.is_empty());
            let v = match child {
                Some(c) => {
                    let Value::Object(inner) = c.to_fields_v1() else { unreachable!() };
                    let mut node = Map::new();
                    if self.members.contains(pe) {
                        node.insert(".".into(), Value::Object(Map::new()));
                    }
                    node.extend(inner);
                    Value::Object(node)
                }
                None => Value::Object(Map::new()),
            };
            m.insert(pe.to_fields_v1(), v);
        }
        Value::Object(m)
    }

    /// Parse a `fieldsV1` object; unparseable keys are skipped.
    pub fn from_fields_v1(v: &Value) -> Set {
        let mut s = Set::new();
        let Value::Object(m) = v else { return s };
        for (k, child) in m {
            if k == "." {
                continue;
            }
            let Some(pe) = PathElement::from_fields_v1(k) else { continue };
            let Value::Object(cm) = child else { continue };
            if cm.is_empty() || cm.contains_key(".") {
                s.members.insert(pe.clone());
            }
            let c = Set::from_fields_v1(child);
            if !c.is_empty() {
                s.children.insert(pe, c);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn f(s: &str) -> PathElement {
        PathElement::field(s)
    }

    #[test]
    fn fields_v1_round_trip() {
        let v = json!({
            "f:data": {".": {}, "f:key": {}},
            "f:metadata": {"f:finalizers": {"v:\"a\"": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}}}}
        });
        let s = Set::from_fields_v1(&v);
        assert!(s.has(&[f("data")]));
        assert!(s.has(&[f("data"), f("key")]));
        assert!(!s.has(&[f("metadata")]));
        let k = PathElement::Key(vec![("name".into(), "\"app\"".into())]);
        assert!(s.has(&[f("spec"), f("containers"), k.clone()]));
        assert_eq!(path_string(&[f("spec"), f("containers"), k, f("image")]), ".spec.containers[name=\"app\"].image");
        assert_eq!(s.to_fields_v1(), v);
    }

    #[test]
    fn set_algebra() {
        let a = Set::from_paths(&[vec![f("a"), f("b")], vec![f("a"), f("c")], vec![f("x")]]);
        let b = Set::from_paths(&[vec![f("a"), f("b")], vec![f("y")]]);
        assert_eq!(a.intersection(&b).paths(), vec![vec![f("a"), f("b")]]);
        assert_eq!(a.difference(&b).paths(), vec![vec![f("x")], vec![f("a"), f("c")]]);
        assert_eq!(a.union(&b).paths().len(), 4);
        let top = Set::from_paths(&[vec![f("a")]]);
        assert_eq!(a.recursive_difference(&top).paths(), vec![vec![f("x")]]);
        assert!(a.has_at_or_below(&[f("a")]));
        assert!(!a.has_at_or_below(&[f("z")]));
    }
}
