//! Go's scalar parsers and `fmt` renderings that the decode errors quote: resource.Quantity,
//! RFC 3339 times, base64 `[]byte`, `%v` / `%#v` of decoded JSON values.

use serde_json::Value;

pub const QUANTITY_FORMAT: &str = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const QUANTITY_SUFFIX: &str = "unable to parse quantity's suffix";

/// `resource.ParseQuantity`'s accept/refuse decision, with its error text.
pub fn parse_quantity(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(QUANTITY_FORMAT);
    }
    let mut pos = usize::from(matches!(b[0], b'+' | b'-'));
    let digits = |mut p: usize| {
        while p < b.len() && b[p].is_ascii_digit() {
            p += 1;
        }
        p
    };
    pos = digits(pos);
    if pos < b.len() && b[pos] == b'.' {
        pos = digits(pos + 1);
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && matches!(b[pos], b'+' | b'-') {
        pos += 1;
    }
    if digits(pos) != b.len() {
        return Err(QUANTITY_FORMAT);
    }
    let suffix = &s[suffix_start..];
    let binary_or_decimal = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let exponent = suffix.len() > 1 && suffix.starts_with(['e', 'E']) && suffix[1..].parse::<i32>().is_ok();
    if binary_or_decimal.contains(&suffix) || exponent { Ok(()) } else { Err(QUANTITY_SUFFIX) }
}

/// `time.Parse(time.RFC3339, s)`'s decision; the error names the layout as Go does, though
/// Go's points at the first element that failed to parse.
pub fn parse_rfc3339(s: &str) -> Result<(), String> {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("parsing time {s:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {s:?} as \"2006\"")),
    }
}

/// `base64.StdEncoding.Decode`'s decision (newlines skipped), with Go's
/// `illegal base64 data at input byte N`.
pub fn check_base64(s: &str) -> Result<(), String> {
    let src = s.as_bytes();
    let corrupt = |at: usize| Err(format!("illegal base64 data at input byte {at}"));
    let alphabet = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let newline = |c: u8| c == b'\n' || c == b'\r';
    let mut si = 0;
    loop {
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                return if j == 0 { Ok(()) } else { corrupt(si - j) };
            }
            let c = src[si];
            si += 1;
            if newline(c) {
                continue;
            }
            if alphabet(c) {
                j += 1;
                continue;
            }
            if c != b'=' || j < 2 {
                return corrupt(si - 1);
            }
            if j == 2 {
                while si < src.len() && newline(src[si]) {
                    si += 1;
                }
                if si == src.len() {
                    return corrupt(src.len());
                }
                if src[si] != b'=' {
                    return corrupt(si - 1);
                }
                si += 1;
            }
            while si < src.len() && newline(src[si]) {
                si += 1;
            }
            return if si < src.len() { corrupt(si) } else { Ok(()) };
        }
    }
}

/// The literal Go's decoder quotes for a number (`number 1.5`).
pub fn number_literal(n: &serde_json::Number) -> String {
    n.to_string()
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`, which `%v` uses: exponent form unless
/// 1e-4 <= |f| < 1e6.
fn go_float(f: f64) -> String {
    let exp = if f == 0.0 { 0 } else { f.abs().log10().floor() as i32 };
    if !(-4..6).contains(&exp) {
        let e = format!("{f:e}");
        let (mant, ex) = e.split_once('e').unwrap_or((&e, "0"));
        let ex: i32 = ex.parse().unwrap_or(0);
        return format!("{mant}e{}{:02}", if ex < 0 { '-' } else { '+' }, ex.abs());
    }
    format!("{f}")
}

fn go_number(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i.to_string(),
        (_, Some(u), _) => u.to_string(),
        (_, _, Some(f)) => go_float(f),
        _ => n.to_string(),
    }
}

/// `fmt.Sprintf("%v", v)` of a decoded `interface{}` (maps print sorted by key).
pub fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut kv: Vec<(&String, &Value)> = m.iter().collect();
            kv.sort_by_key(|(k, _)| *k);
            format!("map[{}]", kv.iter().map(|(k, v)| format!("{k}:{}", go_v(v))).collect::<Vec<_>>().join(" "))
        }
    }
}

/// `fmt.Sprintf("%#v", v)` of a decoded `interface{}`.
pub fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("[]interface {{}}{{{}}}", a.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            let mut kv: Vec<(&String, &Value)> = m.iter().collect();
            kv.sort_by_key(|(k, _)| *k);
            let parts: Vec<String> = kv.iter().map(|(k, v)| format!("{k:?}:{}", go_sharp_v(v))).collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
        other => go_v(other),
    }
}

/// `%T` of a decoded `interface{}`.
pub fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}
