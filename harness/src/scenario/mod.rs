//! Scenario files: the data model, the parser (with file:line errors and hints), variables, the JSON Schema.

pub mod check;
pub mod node;
pub mod parse;
pub mod schema;
pub mod select;
pub mod vars;

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use cleanroom_core::duration::StepTimeout;
pub use parse::{ParseError, load_dir, load_file, parse_str};

use crate::primitives::Action;

/// A scenario: an ordered list of steps against one cluster, then a `finally` block that always runs.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique name, used by `cleanroom run NAME`.
    pub name: String,
    /// One line shown by `cleanroom list`.
    #[serde(default)]
    pub description: String,
    /// Labels to select scenarios by (`cleanroom run --tag T`, `--skip-tag T`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// What the provider must offer; a scenario whose needs are not met is reported as skipped.
    #[serde(default)]
    pub requires: Requirements,
    /// Local container images the scenario's workloads use (`app:dev`), loaded into the nodes before
    /// the cluster's image baseline is taken (kind: `kind load docker-image`). Providers that run no
    /// containers (sim, kwok) have nothing to load; `existing` cannot load, and says so in the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// `${NAME}` in any string of a step is replaced by the value. Built-ins: `RUN_ID`, `SCENARIO`,
    /// `RUN_LABEL` (`cleanroom.dev/run=<id>`), `PROVIDER`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Steps, run in order; the first unexpected failure stops the run (then `finally` runs).
    pub steps: Vec<Step>,
    /// Steps that always run, even after a failure or an interrupt; each runs even if a previous one failed.
    #[serde(default)]
    pub finally: Vec<Step>,
    /// The variables after substitution, built-ins included (the environment of command steps; not
    /// part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub resolved_variables: BTreeMap<String, String>,
    /// Where the scenario was read from (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Option<PathBuf>,
}

/// Provider requirements.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Providers this scenario may run on (`sim`, `kind`, `existing`); empty means any.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Optional capabilities needed (`helm`, `nodes`, `node-filesystem`, `containers`).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Minimum number of nodes (control plane included).
    #[serde(default)]
    pub min_nodes: Option<u32>,
}

/// One step: exactly one primitive key (e.g. `namespace.create`) with its arguments, plus optional envelope keys.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// Human name in reports; defaults to the primitive name and its main argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Per-step timeout like `30s`, `2m`, `500ms`; default 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<StepTimeout>,
    /// `succeeds` (default) or `fails` — for sabotage steps where the failure is the point.
    #[serde(default)]
    pub expect: Expect,
    /// With `expect: fails`: a regular expression the failure message must match, or a list of them
    /// (each must match, in any order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessagePattern>,
    #[serde(flatten)]
    pub action: Action,
    /// Line in the scenario file (not part of the format).
    #[serde(skip)]
    #[schemars(skip)]
    pub line: u64,
}

impl Step {
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => self.action.summary(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    #[default]
    Succeeds,
    Fails,
}

/// One regular expression, or several that must all match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MessagePattern {
    One(String),
    All(Vec<String>),
}

impl MessagePattern {
    pub fn patterns(&self) -> Vec<&str> {
        match self {
            MessagePattern::One(p) => vec![p.as_str()],
            MessagePattern::All(ps) => ps.iter().map(String::as_str).collect(),
        }
    }
}
