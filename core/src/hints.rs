//! "did you mean" hints: the closest names to a misspelt word.

/// "did you mean `x`?" with the closest candidates, else the full list.
pub fn close_hint(word: &str, candidates: &[&str], what: &str) -> String {
    let close = close_names(word, candidates);
    if close.is_empty() {
        format!("known {what}: {}", candidates.join(", "))
    } else {
        format!("did you mean {}?", close.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" or "))
    }
}

pub fn close_names<'a>(word: &str, candidates: &[&'a str]) -> Vec<&'a str> {
    let w = word.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .iter()
        .map(|c| (levenshtein(&w, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .collect();
    // Same family or same operation counts as close too (`namespace.remove` → `namespace.delete`).
    if scored.is_empty()
        && let Some((fam, op)) = w.split_once('.') {
            scored = candidates
                .iter()
                .filter(|c| c.starts_with(&format!("{fam}.")) || c.ends_with(&format!(".{op}")))
                .map(|c| (levenshtein(&w, c), *c))
                .collect();
        }
    scored.sort();
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}


#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn close_by_edit_distance_or_family() {
        assert_eq!(close_names("namespace.creat", &["namespace.create", "wait.rollout"]), vec!["namespace.create"]);
        assert_eq!(close_names("namespace.remove", &["namespace.create", "namespace.delete", "wait.rollout"]).len(), 2);
        assert!(close_names("zzz", &["namespace.create"]).is_empty());
        assert!(close_hint("zzz", &["a.b"], "primitives").starts_with("known primitives: a.b"));
    }
}
