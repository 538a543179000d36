#!/usr/bin/env bash
# Runs every test: installs packages, starts the services tests need,
# builds, and runs the workspace's tests. Needs root (network namespaces,
# packet capture).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cargo test --profile ci --workspace --all-targets --no-fail-fast 2>&1
