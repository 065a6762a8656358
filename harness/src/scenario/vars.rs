//! `${VAR}` substitution. `$${` escapes a literal `${`.

use std::collections::BTreeMap;

/// Replace every `${NAME}` in `input`. Unknown names are an error naming the variable.
pub fn substitute(input: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    if !input.contains('$') {
        return Ok(input.to_string());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(body) = after.strip_prefix("${") {
            let end = body.find('}').ok_or_else(|| format!("unterminated `${{` in {input:?}"))?;
            let name = &body[..end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => return Err(name.to_string()),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn substitutes() {
        let vars: BTreeMap<String, String> = [("NS".to_string(), "demo".to_string())].into();
        assert_eq!(substitute("ns-${NS}-x", &vars).unwrap(), "ns-demo-x");
        assert_eq!(substitute("$${NS} $5", &vars).unwrap(), "${NS} $5");
        assert_eq!(substitute("${NOPE}", &vars).unwrap_err(), "NOPE");
    }
}
