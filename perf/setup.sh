#!/usr/bin/env bash
# Installs the peers and measuring tools the perf/ scripts use.
# Suricata 7 comes from bookworm-backports (bookworm itself ships 6).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "perf/setup.sh: run as root (apt-get)" >&2
    exit 1
fi

. /etc/os-release
backports="${VERSION_CODENAME:-bookworm}-backports"
if ! grep -rqs -- "$backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat >/etc/apt/sources.list.d/backports.sources <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# tshark asks whether non-root users may capture; the answer does not matter here.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get install -y -q --no-install-recommends \
    time valgrind tshark tcpreplay iproute2 ethtool nginx wrk openssl linux-perf
apt-get install -y -q --no-install-recommends -t "$backports" suricata

suricata -V
tshark -v | head -1
