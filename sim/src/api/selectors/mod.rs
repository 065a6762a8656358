//! Label and field selectors as k8s.io/apimachinery `labels.Parse` / `fields.ParseSelector`
//! implement them, plus kube-apiserver's per-kind field-label allow-lists
//! (`AddFieldLabelConversionFunc` in pkg/apis/*/v1/conversion.go).
//!
//! Error strings are the upstream ones; kube-apiserver returns them verbatim as the
//! message of a 400 BadRequest for an invalid `labelSelector` / `fieldSelector` query param.

use serde_json::{Map, Value};

use crate::api::validation::content::{go_quote, is_qualified_name, is_valid_label_value};

/// `selection.Operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One `labels.Requirement`; `values` sorted and de-duplicated like `sets.String.List()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

impl Requirement {
    /// `labels.NewRequirement` with a nil field path (so key errors read `key: ...`).
    pub fn new(key: &str, op: Op, values: Vec<String>) -> Result<Requirement, String> {
        let mut errs = Vec::new();
        let ke = is_qualified_name(key);
        if !ke.is_empty() {
            errs.push(format!("key: Invalid value: {}: {}", go_quote(key), ke.join("; ")));
        }
        let vals_json = || format!("[{}]", values.iter().map(|v| go_quote(v)).collect::<Vec<_>>().join(","));
        match op {
            Op::In | Op::NotIn if values.is_empty() => errs.push(format!(
                "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
                vals_json()
            )),
            Op::Equals | Op::DoubleEquals | Op::NotEquals if values.len() != 1 => errs.push(format!(
                "values: Invalid value: {}: exact-match compatibility requires one single value",
                vals_json()
            )),
            Op::Exists | Op::DoesNotExist if !values.is_empty() => errs.push(format!(
                "values: Invalid value: {}: values set must be empty for exists and does not exist",
                vals_json()
            )),
            Op::GreaterThan | Op::LessThan => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                        vals_json()
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(format!(
                            "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                            go_quote(v)
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let ve = is_valid_label_value(v);
            if !ve.is_empty() {
                errs.push(format!("values[{i}][{key}]: Invalid value: {}: {}", go_quote(v), ve.join("; ")));
            }
        }
        match errs.len() {
            0 => Ok(Requirement { key: key.to_string(), op, values }),
            1 => Err(errs.remove(0)),
            _ => Err(format!("[{}]", errs.join(", "))),
        }
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let got = labels.and_then(|l| l.get(&self.key)).map(|v| v.as_str().unwrap_or_default());
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            Op::In | Op::Equals | Op::DoubleEquals => got.is_some_and(has),
            Op::NotIn | Op::NotEquals => !got.is_some_and(has),
            Op::Exists => got.is_some(),
            Op::DoesNotExist => got.is_none(),
            Op::GreaterThan | Op::LessThan => {
                let (Some(g), [v]) = (got, self.values.as_slice()) else { return false };
                match (g.parse::<i64>(), v.parse::<i64>()) {
                    (Ok(a), Ok(b)) => if self.op == Op::GreaterThan { a > b } else { a < b },
                    _ => false,
                }
            }
        }
    }
}

/// A parsed label selector. `nothing` is `labels.Nothing()` (null `metav1.LabelSelector`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// Matches all objects.
    pub fn everything() -> Self {
        LabelSelector::default()
    }
    /// Matches no objects.
    pub fn nothing() -> Self {
        LabelSelector { requirements: vec![], nothing: true }
    }
    /// `Selector.Empty()`: does not restrict the selection space.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }
    /// Convenience: match an object's `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }
    fn from_requirements(mut reqs: Vec<Requirement>) -> Self {
        // Go sorts ByKey with sort.Sort (unstable); a stable sort gives the same key order.
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements: reqs, nothing: false }
    }

    /// `labels.Parse`.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut p = Parser { items: lex(s), pos: 0 };
        p.parse().map(Self::from_requirements)
    }
}

impl std::fmt::Display for Requirement {
    /// `Requirement.String()`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            Op::DoesNotExist => return write!(f, "!{}", self.key),
            Op::Exists => return write!(f, "{}", self.key),
            Op::Equals => "=",
            Op::DoubleEquals => "==",
            Op::NotEquals => "!=",
            Op::GreaterThan => ">",
            Op::LessThan => "<",
            Op::In => " in ",
            Op::NotIn => " notin ",
        };
        let mut vals = self.values.clone();
        vals.sort();
        let v = vals.join(",");
        if matches!(self.op, Op::In | Op::NotIn) { write!(f, "{}{op}({v})", self.key) } else { write!(f, "{}{op}{v}", self.key) }
    }
}

impl std::fmt::Display for LabelSelector {
    /// `Selector.String()`: requirements joined by ',' (empty for everything/nothing).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        write!(f, "{}", parts.join(","))
    }
}

/// The Status message kube-apiserver returns (400 BadRequest) for a bad `labelSelector`
/// query parameter: the `labels.Parse` error unwrapped.
pub fn label_selector_error_message(parse_error: &str) -> String {
    parse_error.to_string()
}

/// `metav1.LabelSelectorAsSelector` for a present selector object: `{}` matches everything.
pub fn from_label_selector_json(sel: &Value) -> Result<LabelSelector, String> {
    if sel.is_null() {
        return Ok(LabelSelector::nothing());
    }
    let ml = sel.get("matchLabels").and_then(Value::as_object);
    let me = sel.get("matchExpressions").and_then(Value::as_array);
    if ml.map_or(0, |m| m.len()) + me.map_or(0, |m| m.len()) == 0 {
        return Ok(LabelSelector::everything());
    }
    let mut reqs = Vec::new();
    for (k, v) in ml.into_iter().flatten() {
        reqs.push(Requirement::new(k, Op::Equals, vec![v.as_str().unwrap_or_default().to_string()])?);
    }
    for e in me.into_iter().flatten() {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let op_s = e.get("operator").and_then(Value::as_str).unwrap_or_default();
        let op = match op_s {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            other => return Err(format!("{} is not a valid label selector operator", go_quote(other))),
        };
        let values: Vec<String> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_default();
        reqs.push(Requirement::new(key, op, values)?);
    }
    Ok(LabelSelector::from_requirements(reqs))
}

/// Null/absent selector (`None`) matches nothing; a present one as `from_label_selector_json`.
pub fn from_label_selector_json_opt(sel: Option<&Value>) -> Result<LabelSelector, String> {
    match sel {
        None => Ok(LabelSelector::nothing()),
        Some(v) => from_label_selector_json(v),
    }
}

/// `labels.SelectorFromSet` for Service / ReplicationController `spec.selector` maps
/// (no validation; an empty map selects everything).
pub fn from_map(selector: &Map<String, Value>) -> LabelSelector {
    let reqs = selector
        .iter()
        .map(|(k, v)| Requirement { key: k.clone(), op: Op::Equals, values: vec![v.as_str().unwrap_or_default().to_string()] })
        .collect();
    LabelSelector::from_requirements(reqs)
}

// ---- lexer / parser: a straight port of apimachinery's labels/selector.go ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosedPar,
        "," => Tok::Comma,
        "!" => Tok::DoesNotExist,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::GreaterThan,
        "in" => Tok::In,
        "<" => Tok::LessThan,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}
fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn lex(s: &str) -> Vec<(Tok, String)> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < b.len() && is_ws(b[pos]) {
            pos += 1;
        }
        // Go's lexer treats a NUL byte as end of input.
        if pos >= b.len() || b[pos] == 0 {
            out.push((Tok::End, String::new()));
            return out;
        }
        if is_special(b[pos]) {
            let mut buf = Vec::new();
            let mut last: Option<(Tok, String)> = None;
            while pos < b.len() && is_special(b[pos]) {
                buf.push(b[pos]);
                let cur = String::from_utf8_lossy(&buf).into_owned();
                if let Some(t) = keyword(&cur) {
                    last = Some((t, cur));
                    pos += 1;
                } else if last.is_some() {
                    break;
                } else {
                    pos += 1;
                }
            }
            out.push(last.unwrap_or_else(|| {
                (Tok::Error, format!("error expected: keyword found '{}'", String::from_utf8_lossy(&buf)))
            }));
        } else {
            let start = pos;
            while pos < b.len() && b[pos] != 0 && !is_special(b[pos]) && !is_ws(b[pos]) {
                pos += 1;
            }
            let lit = String::from_utf8_lossy(&b[start..pos]).into_owned();
            let tok = keyword(&lit).unwrap_or(Tok::Identifier);
            out.push((tok, lit));
        }
    }
}

struct Parser {
    items: Vec<(Tok, String)>,
    pos: usize,
}

#[derive(PartialEq)]
enum Ctx {
    KeyAndOperator,
    Values,
}

impl Parser {
    fn map(t: Tok, ctx: Ctx) -> Tok {
        if ctx == Ctx::Values && matches!(t, Tok::In | Tok::NotIn) { Tok::Identifier } else { t }
    }
    fn lookahead(&self, ctx: Ctx) -> (Tok, String) {
        let (t, l) = &self.items[self.pos.min(self.items.len() - 1)];
        (Self::map(*t, ctx), l.clone())
    }
    fn consume(&mut self, ctx: Ctx) -> (Tok, String) {
        let r = self.lookahead(ctx);
        if self.pos < self.items.len() - 1 {
            self.pos += 1;
        }
        r
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut reqs = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Ctx::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self.parse_requirement().map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    let (t, l) = self.consume(Ctx::Values);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(Ctx::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(format!("found '{l2}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Tok::End => return Ok(reqs),
                _ => return Err(format!("found '{lit}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Op::Exists | Op::DoesNotExist)) = op {
            return Requirement::new(&key, op, vec![]);
        }
        let op = self.parse_operator()?;
        let values = match op {
            Op::In | Op::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Op>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Ctx::Values);
        if tok == Tok::DoesNotExist {
            op = Some(Op::DoesNotExist);
            (tok, lit) = self.consume(Ctx::Values);
        }
        if tok != Tok::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let ke = is_qualified_name(&lit);
        if !ke.is_empty() {
            // The parser validates with a nil *field.Path, which prints as "<nil>".
            return Err(format!("<nil>: Invalid value: {}: {}", go_quote(&lit), ke.join("; ")));
        }
        let (t, _) = self.lookahead(Ctx::Values);
        if (t == Tok::End || t == Tok::Comma) && op != Some(Op::DoesNotExist) {
            op = Some(Op::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Op, String> {
        let (tok, lit) = self.consume(Ctx::KeyAndOperator);
        Ok(match tok {
            Tok::In => Op::In,
            Tok::Equals => Op::Equals,
            Tok::DoubleEquals => Op::DoubleEquals,
            Tok::GreaterThan => Op::GreaterThan,
            Tok::LessThan => Op::LessThan,
            Tok::NotIn => Op::NotIn,
            Tok::NotEquals => Op::NotEquals,
            _ => return Err(format!("found '{lit}', expected: in, notin, =, ==, !=, gt, lt")),
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Ctx::Values);
        if tok != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Ctx::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let s = self.parse_identifiers_list()?;
                if self.consume(Ctx::Values).0 != Tok::ClosedPar {
                    // Upstream reports the literal looked ahead before the list.
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(s)
            }
            Tok::ClosedPar => {
                self.consume(Ctx::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut s: Vec<String> = Vec::new();
        let insert = |s: &mut Vec<String>, v: String| {
            if !s.contains(&v) {
                s.push(v);
            }
        };
        loop {
            let (tok, lit) = self.consume(Ctx::Values);
            match tok {
                Tok::Identifier => {
                    insert(&mut s, lit);
                    let (t2, l2) = self.lookahead(Ctx::Values);
                    match t2 {
                        Tok::Comma => continue,
                        Tok::ClosedPar => break,
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if s.is_empty() {
                        insert(&mut s, String::new());
                    }
                    let (t2, _) = self.lookahead(Ctx::Values);
                    if t2 == Tok::ClosedPar {
                        insert(&mut s, String::new());
                        break;
                    }
                    if t2 == Tok::Comma {
                        self.consume(Ctx::Values);
                        insert(&mut s, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
        s.sort();
        Ok(s)
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Ctx::Values);
        if tok == Tok::End || tok == Tok::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Ctx::Values);
        if tok == Tok::Identifier { Ok(vec![lit]) } else { Err(format!("found '{lit}', expected: identifier")) }
    }
}

mod fields;
pub use fields::*;

#[cfg(test)]
mod tests;
