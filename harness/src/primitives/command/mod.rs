//! `kubectl`, `script` and `finding`: commands as steps, against the scenario's cluster.
//!
//! Both command primitives run with `KUBECONFIG` of the scenario's cluster (kubectl also gets
//! `--context`; a script gets a kubeconfig copy whose current context is the cluster's), the scenario's
//! variables as environment variables, in the scenario file's directory, in their own process group.
//! The step timeout kills the whole group (SIGTERM, then SIGKILL after 2 s); so does an interrupt.
//! Output is streamed, redacted, to `<report dir>/<scenario>/commands/NN-<step>.{stdout,stderr}`; the
//! report keeps a head and a tail. Checks (`contains`, `matches`, `empty`) see the redacted output.
//!
//! `procedure: true` marks a command copied from a runbook: a failing command (wrong exit code or a
//! timeout) does not fail the step but becomes a finding ("exit 1: <stderr tail>"), as do a delete
//! that deleted nothing and a final grep check that cannot fail (see [`heuristics`]). Output checks
//! still fail the step: they are the scenario's assertions, not the runbook's.

mod appeared;
mod capture;
mod exec;
pub mod heuristics;

use std::path::PathBuf;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome};
pub use capture::Captured;
pub use exec::{Finished, find_program};

/// A check on one output stream (after redaction).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutputCheck {
    /// Text the output must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// A regular expression the output must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// `true`: the output must be empty; `false`: it must not be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty: Option<bool>,
}

impl OutputCheck {
    fn validate(&self, what: &str) -> Result<(), String> {
        match &self.matches {
            Some(m) => regex::Regex::new(m).map(|_| ()).map_err(|e| format!("`{what}.matches` is not a valid regular expression: {e}")),
            None => Ok(()),
        }
    }

    fn check(&self, what: &str, c: &Captured) -> Result<(), String> {
        let seen = || format!("{what} was {} bytes: {}", c.bytes, one_line(&c.excerpt(), 400));
        if let Some(empty) = self.empty
            && empty != c.is_empty()
        {
            return Err(if empty { format!("expected empty {what}, but {}", seen()) } else { format!("expected {what} output, but it was empty") });
        }
        if self.contains.is_none() && self.matches.is_none() {
            return Ok(());
        }
        let text = c.full_text().map_err(|e| format!("reading {what} back from {}: {e}", c.path.display()))?;
        if let Some(needle) = &self.contains
            && !text.contains(needle.as_str())
        {
            return Err(format!("expected {what} to contain `{needle}`, but {}", seen()));
        }
        if let Some(re) = &self.matches
            && !regex::Regex::new(re).expect("validated at parse time").is_match(&text)
        {
            return Err(format!("expected {what} to match /{re}/, but {}", seen()));
        }
        Ok(())
    }
}

static NOT_FOUND: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"(\S+): (command )?not found").unwrap());

fn zero() -> i32 {
    0
}

/// Run `kubectl ARGS...` against the scenario's cluster.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kubectl {
    /// Arguments after `kubectl` (no shell: pipes and globs are not interpreted; use `script`).
    pub args: Vec<String>,
    /// Expected exit code (default 0).
    #[serde(default = "zero")]
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<OutputCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<OutputCheck>,
    /// A runbook's command: failures become findings, not step failures; empty deletes are findings.
    #[serde(default)]
    pub procedure: bool,
}

/// Shells a script may name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Shell {
    #[default]
    Bash,
    Sh,
}

/// Run a shell script (`bash -c RUN`: no `set -e`, no `pipefail`, as typed at a terminal).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Script {
    /// The script text. `${VAR}` is substituted from the scenario's variables when the file is read
    /// (write `$${X}` for a shell variable in braces); the variables are also in the environment.
    pub run: String,
    #[serde(default)]
    pub shell: Shell,
    /// Expected exit code (default 0).
    #[serde(default = "zero")]
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<OutputCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<OutputCheck>,
    /// A runbook's command: failures become findings, not step failures; empty deletes and checks
    /// that cannot fail are findings.
    #[serde(default)]
    pub procedure: bool,
}

/// Record a finding explicitly.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FindingNote {
    pub text: String,
}

impl Kubectl {
    pub fn validate(&self) -> Result<(), String> {
        validate_checks(&self.stdout, &self.stderr)
    }
}

impl Script {
    pub fn validate(&self) -> Result<(), String> {
        if self.run.trim().is_empty() {
            return Err("`run` is empty".into());
        }
        validate_checks(&self.stdout, &self.stderr)
    }
}

fn validate_checks(out: &Option<OutputCheck>, err: &Option<OutputCheck>) -> Result<(), String> {
    out.as_ref().map_or(Ok(()), |c| c.validate("stdout"))?;
    err.as_ref().map_or(Ok(()), |c| c.validate("stderr"))
}

/// The first line of `text`, cut to `max` characters.
pub fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    one_line(line, max)
}

fn one_line(text: &str, max: usize) -> String {
    let flat = text.trim().replace('\n', " ⏎ ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    format!("{cut}…")
}

/// The [`Command`] of a `kubectl` or `script` step: its program, arguments, kubeconfig and how it is
/// named, with the expected exit code, output checks and `procedure` both step types carry.
macro_rules! step_command {
    ($step:expr, $program:expr, $args:expr, $kubeconfig:expr, $shown:expr, $script:expr) => {
        Command {
            program: $program.into(),
            args: $args,
            kubeconfig: $kubeconfig,
            shown: $shown,
            script: $script,
            exit_code: $step.exit_code,
            stdout: $step.stdout.as_ref(),
            stderr: $step.stderr.as_ref(),
            procedure: $step.procedure,
        }
    };
}

impl Primitive for Kubectl {
    fn describe(&self) -> String {
        format!("`kubectl {}`", self.args.join(" "))
    }
    fn enforces_timeout(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let mut args = Vec::new();
            if let Some(c) = &ctx.kube_context {
                args.push(format!("--context={c}"));
            }
            args.extend(self.args.iter().cloned());
            let shown = format!("kubectl {}", self.args.join(" "));
            let before = appeared::before(ctx).await;
            let r = step_command!(self, "kubectl", args, ctx.kubeconfig.clone(), shown, None).execute(ctx).await;
            appeared::attribute(ctx, before).await;
            r
        })
    }
}

impl Primitive for Script {
    fn describe(&self) -> String {
        format!("script `{}`", first_line(&self.run, 80))
    }
    fn enforces_timeout(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let program = match self.shell {
                Shell::Bash => "bash",
                Shell::Sh => "sh",
            };
            let kubeconfig = script_kubeconfig(ctx)?;
            let args = vec!["-c".into(), self.run.clone()];
            let before = appeared::before(ctx).await;
            let r = step_command!(self, program, args, kubeconfig, first_line(&self.run, 120), Some(&self.run)).execute(ctx).await;
            appeared::attribute(ctx, before).await;
            r
        })
    }
}

impl Primitive for FindingNote {
    fn describe(&self) -> String {
        "recording a finding".into()
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            ctx.finding(self.text.clone());
            Ok(StepOutcome::done(format!("finding: {}", self.text)))
        })
    }
}

/// The kubeconfig a script sees: the cluster's, or (with a context) a private copy whose current
/// context is the cluster's, so plain `kubectl` in the script talks to the scenario's cluster.
fn script_kubeconfig(ctx: &mut StepContext) -> Result<Option<PathBuf>, StepError> {
    let (Some(path), Some(context)) = (ctx.kubeconfig.clone(), ctx.kube_context.clone()) else {
        return Ok(ctx.kubeconfig.clone());
    };
    if let Some(p) = &ctx.script_kubeconfig {
        return Ok(Some(p.to_path_buf()));
    }
    let fail = |e: String| StepError::Failed(format!("preparing a kubeconfig for context {context} from {}: {e}", path.display()));
    let text = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
    let mut kc: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| fail(e.to_string()))?;
    kc["current-context"] = context.clone().into();
    let mut f = tempfile::Builder::new().prefix("cleanroom-kubeconfig-").tempfile().map_err(|e| fail(e.to_string()))?;
    std::io::Write::write_all(&mut f, serde_json::to_string(&kc).unwrap_or_default().as_bytes()).map_err(|e| fail(e.to_string()))?;
    let tp = std::sync::Arc::new(f.into_temp_path());
    ctx.script_kubeconfig = Some(tp.clone());
    Ok(Some(tp.to_path_buf()))
}

struct Command<'a> {
    program: String,
    args: Vec<String>,
    kubeconfig: Option<PathBuf>,
    /// How the command is named in messages.
    shown: String,
    script: Option<&'a str>,
    exit_code: i32,
    stdout: Option<&'a OutputCheck>,
    stderr: Option<&'a OutputCheck>,
    procedure: bool,
}

impl Command<'_> {
    async fn execute(self, ctx: &mut StepContext) -> Result<StepOutcome, StepError> {
        let mut env: Vec<(String, String)> = ctx.variables.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(k) = &self.kubeconfig {
            // The command runs in the scenario's directory, where a path relative to ours (the default
            // `reports/…` run directory) names nothing, and kubectl would fall back to localhost:8080.
            let k = std::path::absolute(k).unwrap_or_else(|_| k.clone());
            env.push(("KUBECONFIG".into(), k.display().to_string()));
        }
        let inv = exec::Invocation { program: self.program.clone(), args: self.args.clone(), env, cwd: ctx.base_dir.clone() };
        let dir = match &ctx.report_dir {
            Some(d) => d.join("commands"),
            None => std::env::temp_dir().join(format!("cleanroom-{}", ctx.run_id)).join("commands"),
        };
        ctx.command_seq += 1;
        let stem = format!("{:02}-{}", ctx.command_seq, slug(&ctx.step));
        let timeout = ctx.step_timeout;
        let f = exec::run(&inv, &dir, &stem, timeout).await?;
        if self.procedure {
            ctx.procedures += 1;
        }
        ctx.observe(format!("stderr: {}", f.stderr.last_lines(3)));
        let words = self.script.map(str::to_string).unwrap_or_else(|| self.args.join(" "));
        let stderr_tail = one_line(&f.stderr.last_lines(3), 300);

        // The command's own failure: a step failure, or for a procedure a finding.
        let failure = if f.timed_out {
            // A hang's last words are often on stdout (`kubectl delete` prints "deleted", then waits).
            let last = if stderr_tail.is_empty() { one_line(&f.stdout.last_lines(1), 300) } else { stderr_tail.clone() };
            Some(format!(
                "timed out after {} (process group killed){}",
                cleanroom_core::duration::format_duration(timeout),
                if last.is_empty() { String::new() } else { format!("; last output: {last}") }
            ))
        } else if f.code != Some(self.exit_code) {
            let code = match (f.code, f.signal) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(s)) => format!("killed by signal {s}"),
                (None, None) => "exit ?".into(),
            };
            let tail = if stderr_tail.is_empty() { one_line(&f.stdout.last_lines(3), 300) } else { stderr_tail.clone() };
            // A shell that cannot find a command says so in its own words; say it plainly.
            let tail = match (f.code, NOT_FOUND.captures(&tail)) {
                (Some(127), Some(c)) => format!("`{}` not found on PATH ({tail})", &c[1]),
                _ => tail,
            };
            Some(format!("{code}{}", if tail.is_empty() { String::new() } else { format!(": {tail}") }))
        } else {
            None
        };
        let starved = self.script.and_then(|s| heuristics::starved_grep(s, f.code, &stderr_tail));
        if let Some(fail) = &failure {
            if !self.procedure {
                if f.timed_out {
                    return Err(StepError::Timeout { waited_for: format!("`{}`", self.shown), after: timeout, observed: stderr_tail });
                }
                return Err(StepError::Failed(format!(
                    "`{}`: {fail} (expected exit {}); stdout: {}",
                    self.shown,
                    self.exit_code,
                    pointer(&f.stdout)
                )));
            }
            match &starved {
                Some(s) => ctx.finding(s.clone()),
                None => ctx.finding(fail.clone()),
            }
        } else if self.procedure {
            if let Some(s) = &starved {
                ctx.finding(s.clone());
            }
            if heuristics::is_delete(&words) && f.stdout.deleted == 0 {
                let why = f.stderr.no_resources.clone().or(f.stdout.no_resources.clone());
                ctx.finding(match why {
                    Some(w) => format!("deleted nothing: {w}"),
                    None => "deleted nothing: no `... deleted` line in its output".to_string(),
                });
            }
            if let Some(why) = self.script.and_then(heuristics::always_succeeds) {
                ctx.finding(format!("a check that can never fail: {why}"));
            }
        }
        if let Some(c) = self.stdout {
            c.check("stdout", &f.stdout).map_err(|e| StepError::Failed(format!("`{}`: {e}", self.shown)))?;
        }
        if let Some(c) = self.stderr {
            c.check("stderr", &f.stderr).map_err(|e| StepError::Failed(format!("`{}`: {e}", self.shown)))?;
        }
        Ok(StepOutcome::done(detail(&f, failure.as_deref())))
    }
}

fn pointer(c: &Captured) -> String {
    if c.is_empty() {
        "(empty)".into()
    } else {
        format!("{} bytes in {}; ends: {}", c.bytes, c.path.display(), one_line(&c.last_lines(3), 300))
    }
}

/// The report's view of a finished command: how it ended, then each non-empty stream (head, pointer to
/// the full file, tail).
fn detail(f: &Finished, failure: Option<&str>) -> String {
    let how = match (failure, f.code) {
        (Some(fail), _) => format!("{fail} (a finding: procedure)"),
        (None, Some(c)) => format!("exit {c}"),
        (None, None) => "ended".into(),
    };
    let mut s = format!("{how} in {} ms", f.elapsed.as_millis());
    for (name, c) in [("stdout", &f.stdout), ("stderr", &f.stderr)] {
        if !c.is_empty() {
            s.push_str(&format!("\n{name} ({} bytes, {}):\n{}", c.bytes, c.path.display(), c.excerpt().trim_end()));
        }
    }
    s
}

fn slug(step: &str) -> String {
    let s: String = step.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let s = s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-");
    let s: String = s.chars().take(48).collect();
    if s.is_empty() { "command".into() } else { s }
}
