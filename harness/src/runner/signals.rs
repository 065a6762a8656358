//! SIGINT/SIGTERM: the first cancels the running step (then `finally` and teardown run), the second aborts.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Cancel {
    rx: watch::Receiver<u32>,
}

/// The sending side (held by the signal task, or by tests).
pub struct CancelHandle {
    tx: watch::Sender<u32>,
}

impl CancelHandle {
    pub fn cancel(&self) {
        self.tx.send_modify(|n| *n += 1);
    }
}

impl Cancel {
    pub fn new() -> (CancelHandle, Cancel) {
        let (tx, rx) = watch::channel(0);
        (CancelHandle { tx }, Cancel { rx })
    }
    /// A token that never fires.
    pub fn never() -> Cancel {
        let (h, c) = Cancel::new();
        std::mem::forget(h);
        c
    }
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow() > 0
    }
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|n| *n > 0).await;
    }
}

/// Install the handlers: first signal → cancel, second → `on_abort` then exit 130.
pub fn install(on_abort: impl Fn() + Send + 'static) -> Cancel {
    let (handle, cancel) = Cancel::new();
    // Register the handlers now, not when the task first runs: a signal that arrives before a busy
    // runtime polls the task must still cancel, not kill the process with the default action.
    let mut signals = Signals::register();
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            signals.next().await;
            count += 1;
            if count == 1 {
                eprintln!("\ninterrupted: stopping; `finally` and teardown still run (press Ctrl-C again to abort without cleanup)");
                handle.cancel();
            } else {
                eprintln!("\nsecond signal: aborting without cleanup");
                on_abort();
                std::process::exit(130);
            }
        }
    });
    cancel
}

/// SIGINT and SIGTERM, registered once.
#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn register() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
        }
    }
    async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn register() -> Self {
        Signals
    }
    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Wait for SIGINT or SIGTERM.
pub async fn wait_signal() {
    Signals::register().next().await;
}
