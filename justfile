# Developer front door. `just --list` shows everything.

default:
    @just --list

# Run one scenario on the embedded cluster (extra args go to `cleanroom run`, e.g. --keep, --provider kind)
scenario NAME *ARGS:
    cargo run -q -p cleanroom -- run {{NAME}} {{ARGS}}

# Run every scenario
scenarios *ARGS:
    cargo run -q -p cleanroom -- run --all {{ARGS}}

# The test suite, as CI runs it
test:
    ci/test

# Serve an embedded cluster in the foreground; kubeconfig in ./sim.kubeconfig
sim NODES="3":
    cargo run -q -p cleanroom -- sim serve --nodes {{NODES}} --kubeconfig sim.kubeconfig

# Regenerate the scenario JSON Schema
schema:
    cargo run -q -p cleanroom -- schema > scenarios/schema.json

# Benchmarks (10k-object inventory + diff, wait latency, per-step overhead)
bench:
    cargo run -q --release -p cleanroom -- bench

# Scenario tests against a real cluster (kind or a kubeconfig context), serially
real-cluster CONTEXT:
    CLEANROOM_CONTEXT={{CONTEXT}} cargo nextest run -p cleanroom --run-ignored only -E 'binary(real_cluster)'

# Fuzz the embedded API server's request decoding (needs `cargo install cargo-fuzz`; stable toolchain)
fuzz SECONDS="60":
    cd sim && RUSTC_BOOTSTRAP=1 cargo fuzz run decode_request -s none -- -max_total_time={{SECONDS}}
