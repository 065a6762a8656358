//! The real helm binaries `ci/tools.sh` builds (helm3 = v3, helm4 = v4): found through
//! `CLEANROOM_TOOLS_BIN`, else `~/.cache/cleanroom/tools/bin`. Tests that need them and do not find
//! them print `NOT RUN: <why>` and return early — except where the binaries must exist (`CI` set, or
//! `CLEANROOM_TOOLS_BIN` given, as `ci/test` does): there a missing helm fails the test, so a skip can
//! never pass for a run of the real thing.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn tools_bin() -> Option<PathBuf> {
    std::env::var_os("CLEANROOM_TOOLS_BIN")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cleanroom/tools/bin")))
}

/// `helm3` / `helm4` from the tools cache, when built.
pub fn helm_bin(name: &str) -> Option<PathBuf> {
    tools_bin().map(|d| d.join(name)).filter(|p| p.is_file())
}

/// Both helms, or the reason one is missing (printed by the caller).
pub fn helms() -> Result<Vec<(&'static str, PathBuf)>, String> {
    let mut out = vec![];
    for name in ["helm3", "helm4"] {
        match helm_bin(name) {
            Some(p) => out.push((name, p)),
            None => {
                return Err(format!(
                    "NOT RUN: {name} is not in the tools cache ({}); build it with `ci/tools.sh` (needs Go)",
                    tools_bin().map(|d| d.display().to_string()).unwrap_or_else(|| "no HOME".into())
                ));
            }
        }
    }
    Ok(out)
}

/// Skip the calling test with the reason when the helms are missing.
#[macro_export]
macro_rules! require_helms {
    () => {
        match common::helm_bins::helms() {
            Ok(h) => h,
            Err(why) => {
                if std::env::var_os("CI").is_some() || std::env::var_os("CLEANROOM_TOOLS_BIN").is_some() {
                    panic!("{why} (required here: CI or CLEANROOM_TOOLS_BIN is set)");
                }
                eprintln!("{why}");
                return;
            }
        }
    };
}

pub fn demo_chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/charts/cleanroom-demo")
}

pub fn chart(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/charts").join(name)
}
