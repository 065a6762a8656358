//! Live progress: a spinner per step on a TTY (indicatif), plain timestamped lines otherwise (CI).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{Outcome, ScenarioResult, StepResult};

pub trait Progress: Send + Sync {
    fn scenario_started(&self, name: &str, provider: &str);
    fn step_started(&self, name: &str);
    fn step_finished(&self, r: &StepResult);
    fn scenario_finished(&self, r: &ScenarioResult);
    fn message(&self, text: &str);
}

pub fn for_terminal() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
        Box::new(Tty { bar: Mutex::new(None) })
    } else {
        Box::new(Plain)
    }
}

fn mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "ok",
        Outcome::Failed => "FAILED",
        Outcome::Skipped => "skipped",
    }
}

fn step_line(r: &StepResult) -> String {
    let mut s = format!("{} [{}] {} ({} ms)", r.section, mark(r.outcome), r.name, r.duration_ms);
    if let Some(reason) = &r.reason {
        s += &format!(": {}", reason.replace('\n', "\n      "));
    } else if let Some(d) = &r.detail {
        s += &format!(" — {d}");
    }
    s
}

fn scenario_line(r: &ScenarioResult) -> String {
    let mut s = format!("scenario {} {} on {} in {} ms", r.name, mark(r.outcome), r.provider, r.duration_ms);
    if let Some(reason) = &r.reason {
        s += &format!(": {reason}");
    }
    s
}

/// Plain lines with a UTC timestamp, for CI logs.
pub struct Plain;

fn ts() -> String {
    chrono::Utc::now().format("%H:%M:%S%.3f").to_string()
}

impl Progress for Plain {
    fn scenario_started(&self, name: &str, provider: &str) {
        eprintln!("{} scenario {name} starting on provider {provider}", ts());
    }
    fn step_started(&self, _name: &str) {}
    fn step_finished(&self, r: &StepResult) {
        eprintln!("{}   {}", ts(), step_line(r));
    }
    fn scenario_finished(&self, r: &ScenarioResult) {
        eprintln!("{} {}", ts(), scenario_line(r));
    }
    fn message(&self, text: &str) {
        eprintln!("{} {text}", ts());
    }
}

/// Nothing at all (tests, benches).
pub struct Quiet;

impl Progress for Quiet {
    fn scenario_started(&self, _: &str, _: &str) {}
    fn step_started(&self, _: &str) {}
    fn step_finished(&self, _: &StepResult) {}
    fn scenario_finished(&self, _: &ScenarioResult) {}
    fn message(&self, _: &str) {}
}

pub struct Tty {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress for Tty {
    fn scenario_started(&self, name: &str, provider: &str) {
        eprintln!("▶ {name} (provider {provider})");
    }
    fn step_started(&self, name: &str) {
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("  {spinner} {msg} {elapsed}").expect("template"));
        bar.set_message(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        *self.bar.lock().expect("progress lock") = Some(bar);
    }
    fn step_finished(&self, r: &StepResult) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
        eprintln!("  {}", step_line(r));
    }
    fn scenario_finished(&self, r: &ScenarioResult) {
        eprintln!("{}", scenario_line(r));
    }
    fn message(&self, text: &str) {
        match self.bar.lock().expect("progress lock").as_ref() {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}
