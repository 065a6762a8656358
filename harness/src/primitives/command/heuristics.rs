//! What a `procedure: true` command teaches, beyond pass/fail. Deliberately small:
//!
//! - a delete-ish command (`delete` in its words) that printed `No resources found` or no
//!   `<kind> "<name>" deleted` line: "deleted nothing";
//! - a final `… | grep …` check that cannot fail: it ends in `|| true` / `|| :` / `|| exit 0`, or
//!   pipes grep into `wc -l` with no comparison after it (both exit 0 whatever grep saw); or grep
//!   found nothing (exit 1) while an earlier stage of the pipe wrote to stderr — grep saw no input
//!   because the command feeding it failed, so "nothing found" means nothing.

use std::sync::LazyLock;

use regex::Regex;

static DELETE_WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bdelete\b").unwrap());

pub fn is_delete(words: &str) -> bool {
    DELETE_WORD.is_match(words)
}

/// The last command line of a script, split into pipe stages (`|`, not `||`), when one stage after
/// the first is a `grep`.
pub fn final_grep_pipeline(script: &str) -> Option<Vec<String>> {
    let last = script.lines().map(str::trim).rfind(|l| !l.is_empty() && !l.starts_with('#'))?;
    let last = last.rsplit([';']).next().unwrap_or(last);
    let last = last.rsplit("&&").next().unwrap_or(last).trim();
    let stages = split_pipes(last);
    stages.iter().skip(1).any(|s| s.starts_with("grep")).then_some(stages)
}

/// Split on single `|` outside quotes; `||` stays inside a stage.
fn split_pipes(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut cur, mut quote) = (String::new(), None::<char>);
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '|') if chars.get(i + 1) == Some(&'|') => {
                cur.push_str("||");
                i += 2;
                continue;
            }
            (None, '|') => {
                out.push(cur.trim().to_string());
                cur.clear();
                i += 1;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        i += 1;
    }
    out.push(cur.trim().to_string());
    out
}

/// Why the final grep check of `script` exits 0 whatever it finds, if it does.
pub fn always_succeeds(script: &str) -> Option<String> {
    let stages = final_grep_pipeline(script)?;
    let last = stages.last()?;
    for ok in ["|| true", "|| :", "|| exit 0"] {
        if last.contains(ok) {
            return Some(format!("`{last}` ends in `{ok}`, so it exits 0 whether or not grep matched"));
        }
    }
    let grep_at = stages.iter().position(|s| s.starts_with("grep"))?;
    if let Some(wc) = stages[grep_at..].iter().find(|s| s.starts_with("wc")) {
        let compared = ["-eq", "-ne", "-gt", "-lt", "test ", "[ ", "(("].iter().any(|c| last.contains(c));
        if !compared {
            return Some(format!("grep pipes into `{wc}`, which prints a count and exits 0 whatever it counts"));
        }
    }
    None
}

/// With grep finding nothing (exit 1): the stage that fed it failed, when stderr says so.
pub fn starved_grep(script: &str, exit: Option<i32>, stderr_tail: &str) -> Option<String> {
    let stages = final_grep_pipeline(script)?;
    if exit != Some(1) || stderr_tail.is_empty() {
        return None;
    }
    Some(format!(
        "a check that can never fail: grep found nothing because `{}` failed ({stderr_tail}), so it reads \"nothing left\" whatever is left",
        stages[0]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_final_grep_check() {
        let s = "kubectl get all -A | grep -iE \"prometheus|operator\"";
        assert_eq!(final_grep_pipeline(s).unwrap(), vec!["kubectl get all -A", "grep -iE \"prometheus|operator\""]);
        assert!(final_grep_pipeline("kubectl get pods").is_none());
        assert!(final_grep_pipeline("grep x file").is_none(), "grep as the first stage is not a pipe check");
    }

    #[test]
    fn checks_that_always_succeed() {
        assert!(always_succeeds("kubectl get crd | grep coreos || true").unwrap().contains("|| true"));
        assert!(always_succeeds("kubectl get pv | grep monitoring | wc -l").unwrap().contains("wc -l"));
        assert!(always_succeeds("test $(kubectl get pv | grep monitoring | wc -l) -eq 0").is_none());
        assert!(always_succeeds("kubectl get crd | grep coreos").is_none());
    }

    #[test]
    fn starved_grep_needs_exit_1_and_stderr() {
        let s = "kubectl get all,webhook -A | grep -i prometheus";
        assert!(starved_grep(s, Some(1), "error: the server doesn't have a resource type \"webhook\"").is_some());
        assert!(starved_grep(s, Some(1), "").is_none());
        assert!(starved_grep(s, Some(0), "warning").is_none());
    }
}
