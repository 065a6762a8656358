//! Label selectors as kubectl writes them (`a=b,c!=d,e in (x,y),!f`), matched client-side.

use std::collections::BTreeMap;

/// A parsed selector requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

pub fn parse_selector(sel: &str) -> Vec<Req> {
    // Split on commas that are not inside parentheses.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in sel.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&sel[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&sel[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let set = |s: &str| s.trim().trim_start_matches('(').trim_end_matches(')').split(',').map(|v| v.trim().to_string()).collect();
            if let Some((k, v)) = p.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once(" notin ") {
                Req::NotIn(k.trim().into(), set(v))
            } else if let Some((k, v)) = p.split_once(" in ") {
                Req::In(k.trim().into(), set(v))
            } else if let Some(k) = p.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else {
                Req::Exists(p.into())
            }
        })
        .collect()
}

/// Does `labels` match the selector?
pub fn selector_matches(sel: &str, labels: &BTreeMap<String, String>) -> bool {
    parse_selector(sel).iter().all(|r| match r {
        Req::Eq(k, v) => labels.get(k) == Some(v),
        Req::NotEq(k, v) => labels.get(k) != Some(v),
        Req::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
        Req::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
        Req::Exists(k) => labels.contains_key(k),
        Req::NotExists(k) => !labels.contains_key(k),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn selectors() {
        let l: BTreeMap<String, String> = [("app".to_string(), "a".to_string()), ("tier".into(), "db".into())].into();
        assert!(selector_matches("app=a", &l));
        assert!(selector_matches("app==a,tier in (db, web)", &l));
        assert!(!selector_matches("app!=a", &l));
        assert!(selector_matches("!missing,tier", &l));
        assert!(!selector_matches("tier notin (db)", &l));
    }
}
