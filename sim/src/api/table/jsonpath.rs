//! The JSONPath subset CRD printer columns use: `.a.b`, `.a[0]`, `.a[*]` (first match),
//! `.a[?(@.k=="v")].b`, optionally wrapped in `{}`.

use serde_json::Value;

/// First result of `path` on `v` (printer columns only show the first).
pub fn eval(v: &Value, path: &str) -> Option<Value> {
    let p = path.trim();
    let p = p.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut cur = vec![v.clone()];
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            rest = &r[end..];
            if key.is_empty() {
                continue;
            }
            cur = cur.iter().filter_map(|x| x.get(key).cloned()).collect();
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = find_close(r)?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            cur = cur.iter().flat_map(|x| index(x, inner)).collect();
        } else {
            return None;
        }
    }
    cur.into_iter().next()
}

fn find_close(r: &str) -> Option<usize> {
    let mut in_quote: Option<char> = None;
    for (i, c) in r.char_indices() {
        match (in_quote, c) {
            (Some(q), c) if c == q => in_quote = None,
            (None, '"' | '\'') => in_quote = Some(c),
            (None, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn index(x: &Value, inner: &str) -> Vec<Value> {
    let arr = match x.as_array() {
        Some(a) => a,
        None => {
            // ['key'] on an object.
            let k = inner.trim_matches(|c| c == '\'' || c == '"');
            return x.get(k).cloned().into_iter().collect();
        }
    };
    if inner == "*" {
        return arr.clone();
    }
    if let Ok(i) = inner.parse::<i64>() {
        let i = if i < 0 { arr.len() as i64 + i } else { i };
        return usize::try_from(i).ok().and_then(|i| arr.get(i).cloned()).into_iter().collect();
    }
    if let Some(f) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        let (lhs, op, rhs) = if let Some((l, r)) = f.split_once("==") {
            (l, "==", r)
        } else if let Some((l, r)) = f.split_once("!=") {
            (l, "!=", r)
        } else {
            return arr.iter().filter(|e| eval(e, f.trim().trim_start_matches('@')).is_some()).cloned().collect();
        };
        let field = lhs.trim().trim_start_matches('@');
        let want = rhs.trim().trim_matches(|c| c == '"' || c == '\'');
        return arr
            .iter()
            .filter(|e| {
                let got = eval(e, field).map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                });
                (op == "==") == (got.as_deref() == Some(want))
            })
            .cloned()
            .collect();
    }
    vec![]
}
