//! resource.Quantity values as numbers.

use serde_json::Value;

/// A resource.Quantity as a number of base units (cores, bytes).
pub fn parse_quantity(v: &Value) -> f64 {
    let s = match v {
        Value::Number(n) => return n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim(),
        _ => return 0.0,
    };
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0), ("Mi", 1048576.0), ("Gi", 1073741824.0), ("Ti", 1099511627776.0), ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0), ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12),
    ];
    for (suf, mult) in SUFFIXES {
        if let Some(num) = s.strip_suffix(suf) {
            return num.parse::<f64>().unwrap_or(0.0) * mult;
        }
    }
    for (suf, mult) in [("P", 1e15), ("E", 1e18)] {
        if let Some(num) = s.strip_suffix(suf) {
            return num.parse::<f64>().unwrap_or(0.0) * mult;
        }
    }
    s.parse::<f64>().unwrap_or(0.0)
}
