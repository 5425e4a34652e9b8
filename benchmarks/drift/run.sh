#!/usr/bin/env bash
# `make bench` hook: tabloop's drift computation against Evidently's DataDriftPreset.
# Writes benchmarks/results/drift.json and drift.md. Evidently gets its own venv (pandas<3).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
exec timeout "${TABLOOP_BENCH_TIMEOUT:-3600}" .venv/bin/python benchmarks/drift/bench_drift.py "$@"
