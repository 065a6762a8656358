//! Repeated warnings, counted. The embedded cluster logs a warning per event it cannot act on (one per
//! webhook call that fails open: a flagship run printed ~150 identical lines). Its warnings are not
//! printed as they happen (they are debug output, `CLEANROOM_LOG`); [`Collector`] keeps each distinct
//! one with its count, and the runner reports each once per scenario, "(×N)" when repeated.

use std::fmt::Write as _;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The tracing target whose warnings are collected instead of printed.
pub const SIM_TARGET: &str = "cleanroom_sim";

/// Distinct warnings in the order first seen, with their counts.
static SEEN: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());

/// A tracing layer that counts the embedded cluster's warnings and errors.
pub struct Collector;

impl<S: Subscriber> Layer<S> for Collector {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > Level::WARN || !meta.target().starts_with(SIM_TARGET) {
            return;
        }
        let mut v = Text::default();
        event.record(&mut v);
        record(v.finish());
    }
}

#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn finish(self) -> String {
        if self.fields.is_empty() { self.message } else { format!("{} ({})", self.message, self.fields.trim_start()) }
    }
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

/// Count one occurrence of `text`.
pub fn record(text: String) {
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    match seen.iter_mut().find(|(t, _)| *t == text) {
        Some((_, n)) => *n += 1,
        None => seen.push((text, 1)),
    }
}

/// The warnings counted since the last call, one line each: `text`, or `text (×N)` when repeated.
pub fn take() -> Vec<String> {
    let seen = std::mem::take(&mut *SEEN.lock().unwrap_or_else(|e| e.into_inner()));
    seen.into_iter().map(|(t, n)| if n > 1 { format!("{t} (×{n})") } else { t }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn identical_warnings_are_one_line_with_their_count() {
        let subscriber = tracing_subscriber::registry().with(Collector);
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..150 {
                tracing::warn!(target: "cleanroom_sim::admission::webhooks", webhook = "v.example", "failed calling webhook, failing open: no endpoints");
            }
            tracing::warn!(target: "cleanroom_sim::storage", "another one");
            tracing::info!(target: "cleanroom_sim::storage", "not a warning");
            tracing::warn!(target: "kube_client", "not the embedded cluster's");
        });
        assert_eq!(
            take(),
            ["failed calling webhook, failing open: no endpoints (webhook=v.example) (×150)", "another one"],
            "one line per distinct warning, in the order first seen"
        );
        assert!(take().is_empty(), "taken once");
    }
}
