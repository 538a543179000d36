#!/usr/bin/env bash
# Installs what httpcap's build and tests need on Debian 12 (run as root).
# Idempotent: a second run installs nothing new.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(
  build-essential pkg-config libssl-dev zlib1g-dev   # rdkafka's bundled librdkafka
  libpcap-dev                                        # pcap engine, BPF compilation
  clang-14 libelf-dev                                # af_xdp: XDP program (clang -target bpf), libbpf (libelf)
  iproute2 ethtool tcpdump tcpreplay iputils-ping    # network namespaces, capture, replay
  nginx curl wrk                                     # real servers and clients for live tests
  python3 python3-pip python3-venv                   # verification consumer
  python3-brotli python3-zstandard                   # br/zstd test server (content tests)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Kafka tests: confluent-kafka (verification consumer) and the Tansu broker.
bash "$(dirname "$0")/kafka/setup.sh"
# nginx is started by the tests themselves, inside namespaces.
systemctl disable --now nginx >/dev/null 2>&1 || true
