#!/usr/bin/env bash
# The README's first command: builds httpcap and runs it on the capture
# shipped in the repository (real nginx and curl traffic, recorded by
# tools/record-sample.sh), printing one JSON record per line. No Kafka, no
# network, no privileges. On a fresh Debian 12 it first installs the
# Debian packages the build needs (as root, or through sudo). Extra
# arguments go to httpcap, e.g. `tools/try.sh --processing-workers 1`.
#
# Standard output carries only the records (`tools/try.sh | jq .` works):
# everything the setup and the build print goes to standard error.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --build-only >&2
cargo build --release --locked -q -p httpcap >&2
exec cargo run --release --locked -q -p httpcap -- \
    --input-raw-engine pcap_file --input-raw engine/testdata/sample.pcap "$@"
