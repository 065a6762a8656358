//! Reading scenario files: every mistake is reported with file, line and a hint, before any cluster is touched.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::node::{self, Key, Node, NodeError, Pos, Value};
use super::{Expect, MessagePattern, Requirements, Scenario, Step, StepTimeout, vars};
use cleanroom_core::hints::close_hint;

use crate::primitives::{Action, PRIMITIVES};

/// A problem in a scenario file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ParseError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

const TOP_KEYS: &[&str] = &["name", "description", "tags", "requires", "images", "variables", "steps", "finally"];
const STEP_KEYS: &[&str] = &["name", "timeout", "expect", "message"];

/// Placeholder values for built-in variables while validating (the real ones are set per run).
pub fn builtin_placeholders(scenario_name: &str) -> BTreeMap<String, String> {
    builtins(scenario_name, "validate", "sim")
}

/// Built-in variables of a run.
pub fn builtins(scenario: &str, run_id: &str, provider: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("RUN_ID".to_string(), run_id.to_string()),
        ("SCENARIO".to_string(), scenario.to_string()),
        ("RUN_LABEL".to_string(), format!("{}={run_id}", crate::RUN_LABEL)),
        ("PROVIDER".to_string(), provider.to_string()),
        // Node names are `<CLUSTER>-control-plane`, `<CLUSTER>-worker`, `<CLUSTER>-worker2`.
        ("CLUSTER".to_string(), crate::providers::cluster_name(provider, run_id)),
    ])
}


pub fn load_file(path: &Path) -> Result<Scenario, ParseError> {
    let text = std::fs::read_to_string(path).map_err(|e| ParseError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read scenario file: {e}"),
        hint: None,
    })?;
    parse_str(&text, path, None)
}

/// Load every `*.yaml` / `*.yml` in `dir` (sorted by name). All files are checked; all errors are returned.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, Vec<ParseError>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            // The renders catalogue lives next to the scenarios (`cleanroom record`).
            .filter(|p| p.file_name().and_then(|n| n.to_str()) != Some("renders.yaml"))
            .collect(),
        Err(e) => {
            return Err(vec![ParseError {
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the scenarios directory: {e}"),
                hint: Some("pass --scenarios DIR".into()),
            }]);
        }
    };
    files.sort();
    let (mut ok, mut errs) = (Vec::new(), Vec::new());
    for f in files {
        if let Some(why) = not_a_scenario(&f) {
            eprintln!("note: {} is not a scenario ({why}): ignored", f.display());
            continue;
        }
        match load_file(&f) {
            Ok(s) => ok.push(s),
            Err(e) => errs.push(e),
        }
    }
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for s in &ok {
        let src = s.source.clone().unwrap_or_default();
        if let Some(prev) = seen.insert(s.name.clone(), src.clone()) {
            errs.push(ParseError {
                file: src,
                line: 1,
                column: 1,
                message: format!("scenario name `{}` is already used by {}", s.name, prev.display()),
                hint: Some("scenario names must be unique".into()),
            });
        }
    }
    if errs.is_empty() {
        ok.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(ok)
    } else {
        Err(errs)
    }
}

/// YAML files next to scenarios that are something else (a render catalogue, a Kubernetes manifest).
fn not_a_scenario(path: &Path) -> Option<&'static str> {
    let root = node::parse_yaml(&std::fs::read_to_string(path).ok()?).ok()?;
    match &root.value {
        Value::Map(_) if root.get("kind").is_some() && root.get("steps").is_none() => Some("a Kubernetes `kind:` and no `steps:`"),
        Value::Map(_) if root.get("steps").is_none() && root.get("name").is_none() => Some("no `name:` and no `steps:`"),
        Value::Seq(_) => Some("a list, not a mapping with `steps:`"),
        _ => None,
    }
}

struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, pos: Pos, message: impl Into<String>, hint: Option<String>) -> ParseError {
        ParseError { file: self.file.to_path_buf(), line: pos.line, column: pos.column, message: message.into(), hint }
    }
    fn node_err(&self, fallback: Pos, e: NodeError, what: &str, known: &[&str]) -> ParseError {
        let pos = e.pos.unwrap_or(fallback);
        let hint = if let Some((field, expected)) = &e.unknown_field {
            let exp: Vec<&str> = expected.iter().map(String::as_str).collect();
            Some(close_hint(field, &exp, &format!("arguments of {what}")))
        } else if e.missing_field.is_some() {
            Some(format!("{what} takes: {}", known.join(", ")))
        } else {
            None
        };
        let message = if e.unknown_field.is_some() || e.missing_field.is_some() {
            format!("{}: {}", what, e.message)
        } else {
            format!("{what}: {}", e.message)
        };
        self.err(pos, message, hint)
    }
}

/// Parse a scenario. `builtin_vars` defaults to placeholders (validation); the runner passes real values.
pub fn parse_str(
    text: &str,
    file: &Path,
    builtin_vars: Option<&BTreeMap<String, String>>,
) -> Result<Scenario, ParseError> {
    let cx = Ctx { file };
    let root = node::parse_yaml(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        let msg = e.without_snippet().to_string();
        let msg = msg.lines().next().unwrap_or("").to_string();
        ParseError {
            file: file.to_path_buf(),
            line,
            column,
            message: format!("malformed YAML: {msg}"),
            hint: Some("check indentation and quoting near this line".into()),
        }
    })?;
    let entries = match &root.value {
        Value::Map(e) => e,
        _ => {
            return Err(cx.err(
                root.pos,
                format!("a scenario must be a mapping, found {}", root.type_name()),
                Some("start with `name:`, `description:` and `steps:`".into()),
            ));
        }
    };
    for (k, _) in entries {
        if !TOP_KEYS.contains(&k.name.as_str()) {
            return Err(cx.err(k.pos, format!("unknown key `{}`", k.name), Some(close_hint(&k.name, TOP_KEYS, "keys"))));
        }
    }
    let name_node = root.get("name").ok_or_else(|| {
        cx.err(Pos { line: 1, column: 1 }, "missing required key `name`", Some("add `name: my-scenario`".into()))
    })?;
    let name: String = node::from_node(name_node).map_err(|e| cx.node_err(name_node.pos, e, "name", &[]))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(cx.err(
            name_node.pos,
            format!("invalid scenario name {name:?}"),
            Some("use letters, digits, `-` and `_`".into()),
        ));
    }
    let description = match root.get("description") {
        Some(n) => node::from_node::<String>(n).map_err(|e| cx.node_err(n.pos, e, "description", &[]))?,
        None => String::new(),
    };
    let tags = match root.get("tags") {
        Some(n) => node::from_node::<Vec<String>>(n).map_err(|e| cx.node_err(n.pos, e, "tags", &[]))?,
        None => Vec::new(),
    };
    let images = match root.get("images") {
        Some(n) => {
            let images = node::from_node::<Vec<String>>(n).map_err(|e| cx.node_err(n.pos, e, "images", &[]))?;
            if let Some(bad) = images.iter().find(|i| !is_image_reference(i)) {
                return Err(cx.err(n.pos, format!("`images`: {bad:?} is not an image reference"), Some("write it as `docker images` lists it, e.g. `example.dev/app:dev`".into())));
            }
            images
        }
        None => Vec::new(),
    };
    let requires = match root.get("requires") {
        Some(n) => node::from_node::<Requirements>(n)
            .map_err(|e| cx.node_err(n.pos, e, "requires", &["providers", "capabilities", "min_nodes"]))?,
        None => Requirements::default(),
    };
    let declared: BTreeMap<String, String> = match root.get("variables") {
        Some(n) => node::from_node(n).map_err(|e| cx.node_err(n.pos, e, "variables", &[]))?,
        None => BTreeMap::new(),
    };
    let placeholders;
    let builtin = match builtin_vars {
        Some(b) => b,
        None => {
            placeholders = builtin_placeholders(&name);
            &placeholders
        }
    };
    // Variables may use the built-ins; then steps may use both.
    let mut all_vars = builtin.clone();
    for (k, v) in &declared {
        let value = vars::substitute(v, builtin).map_err(|missing| {
            cx.err(
                root.get("variables").map(|n| n.pos).unwrap_or_default(),
                format!("variable `{k}` uses undefined variable `{missing}`"),
                Some(format!("built-ins are: {}", builtin.keys().cloned().collect::<Vec<_>>().join(", "))),
            )
        })?;
        all_vars.insert(k.clone(), value);
    }
    let steps_node = root.get("steps").ok_or_else(|| {
        cx.err(root.pos, "missing required key `steps`", Some("add `steps:` with a list of steps".into()))
    })?;
    let steps = parse_steps(&cx, steps_node, &all_vars, "steps")?;
    if steps.is_empty() {
        return Err(cx.err(steps_node.pos, "`steps` is empty", Some("a scenario needs at least one step".into())));
    }
    let finally = match root.get("finally") {
        Some(n) => parse_steps(&cx, n, &all_vars, "finally")?,
        None => Vec::new(),
    };
    let scenario = Scenario {
        name,
        description,
        tags,
        requires,
        images,
        variables: declared,
        resolved_variables: all_vars,
        steps,
        finally,
        source: Some(file.to_path_buf()),
    };
    super::check::check(&scenario, file)?;
    Ok(scenario)
}

/// What `kind load docker-image` takes: a non-empty reference without whitespace or a scheme.
fn is_image_reference(image: &str) -> bool {
    !image.is_empty() && !image.contains(char::is_whitespace) && !image.contains("://") && !image.starts_with(['-', '/', ':'])
}

fn parse_steps(
    cx: &Ctx<'_>,
    list: &Node,
    vars: &BTreeMap<String, String>,
    section: &str,
) -> Result<Vec<Step>, ParseError> {
    let items = match &list.value {
        Value::Seq(items) => items,
        Value::Null => return Ok(Vec::new()),
        _ => {
            return Err(cx.err(
                list.pos,
                format!("`{section}` must be a list of steps, found {}", list.type_name()),
                Some("write each step as `- namespace.create: {name: demo}`".into()),
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let mut item = item.clone();
        item.try_map_strings(&mut |s, pos| {
            vars::substitute(s, vars).map_err(|missing| {
                let names: Vec<&str> = vars.keys().map(String::as_str).collect();
                cx.err(pos, format!("undefined variable `${{{missing}}}`"), Some(close_hint(&missing, &names, "variables")))
            })
        })?;
        out.push(parse_step(cx, &item)?);
    }
    Ok(out)
}

fn parse_step(cx: &Ctx<'_>, item: &Node) -> Result<Step, ParseError> {
    let entries = match &item.value {
        Value::Map(e) => e,
        _ => {
            return Err(cx.err(
                item.pos,
                format!("a step must be a mapping with one primitive, found {}", item.type_name()),
                Some("e.g. `- namespace.create: {name: demo}`".into()),
            ));
        }
    };
    let prims: Vec<&(Key, Node)> = entries.iter().filter(|(k, _)| !STEP_KEYS.contains(&k.name.as_str())).collect();
    let names: Vec<&str> = PRIMITIVES.iter().map(|p| p.name).collect();
    let (key, args) = match prims.as_slice() {
        [] => {
            return Err(cx.err(
                item.pos,
                "step names no primitive",
                Some(format!("add one of: {}", names.join(", "))),
            ));
        }
        [one] => (&one.0, &one.1),
        [a, b, ..] => {
            let known_a = names.contains(&a.0.name.as_str());
            let bad = if known_a { b } else { a };
            if !names.contains(&bad.0.name.as_str()) {
                return Err(unknown_primitive(cx, &bad.0, &names));
            }
            return Err(cx.err(
                b.0.pos,
                format!("step has two primitives, `{}` and `{}`", a.0.name, b.0.name),
                Some("split them into two steps".into()),
            ));
        }
    };
    let Some(info) = PRIMITIVES.iter().find(|p| p.name == key.name) else {
        return Err(unknown_primitive(cx, key, &names));
    };
    let wrapper = Node { pos: key.pos, value: Value::Map(vec![(key.clone(), args.clone())]) };
    let action: Action =
        node::from_node(&wrapper).map_err(|e| cx.node_err(args.pos, e, &format!("`{}`", key.name), info.args))?;
    if let Err(msg) = action.validate() {
        return Err(cx.err(key.pos, format!("`{}`: {msg}", key.name), Some(format!("{} takes: {}", key.name, info.args.join(", ")))));
    }
    let name = match item.get("name") {
        Some(n) => Some(node::from_node::<String>(n).map_err(|e| cx.node_err(n.pos, e, "step name", &[]))?),
        None => None,
    };
    let timeout = match item.get("timeout") {
        Some(n) => Some(node::from_node::<StepTimeout>(n).map_err(|e| cx.node_err(n.pos, e, "timeout", &[]))?),
        None => None,
    };
    let expect = match item.get("expect") {
        Some(n) => node::from_node::<Expect>(n).map_err(|e| {
            let mut pe = cx.node_err(n.pos, e, "expect", &[]);
            pe.hint = Some("`expect` is `succeeds` (default) or `fails`".into());
            pe
        })?,
        None => Expect::Succeeds,
    };
    let message = match item.get("message") {
        Some(n) => {
            let m = node::from_node::<MessagePattern>(n).map_err(|e| {
                let mut pe = cx.node_err(n.pos, e, "message", &[]);
                pe.message = format!("`message` must be a regular expression or a list of them, found {}", n.type_name());
                pe
            })?;
            if expect != Expect::Fails {
                return Err(cx.err(n.pos, "`message` is only meaningful with `expect: fails`", Some("add `expect: fails`".into())));
            }
            for p in m.patterns() {
                if let Err(e) = regex::Regex::new(p) {
                    return Err(cx.err(n.pos, format!("`message` is not a valid regular expression: {e}"), None));
                }
            }
            Some(m)
        }
        None => None,
    };
    Ok(Step { name, timeout, expect, message, action, line: key.pos.line })
}

fn unknown_primitive(cx: &Ctx<'_>, key: &Key, names: &[&str]) -> ParseError {
    // `timout:` is a misspelt step option, not a primitive.
    if !cleanroom_core::hints::close_names(&key.name, STEP_KEYS).is_empty() && !key.name.contains('.') {
        return cx.err(key.pos, format!("unknown step option `{}`", key.name), Some(close_hint(&key.name, STEP_KEYS, "step options")));
    }
    cx.err(key.pos, format!("unknown primitive `{}`", key.name), Some(close_hint(&key.name, names, "primitives")))
}
