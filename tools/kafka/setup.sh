#!/usr/bin/env bash
# Installs what the Kafka tests need, outside the clone: the verification
# consumer's client library and the Tansu test broker. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"

pip_install() {
  # Debian's own python refuses global installs (PEP 668); a pyenv or venv
  # python does not know the flag's reason but accepts it.
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --break-system-packages "$@"
}

if ! python3 -c 'import confluent_kafka, sys; sys.exit(confluent_kafka.libversion()[1] < 0x02000000)' 2>/dev/null; then
  # librdkafka 2.x from the wheel; Debian's python3-confluent-kafka is too old for Tansu.
  pip_install 'confluent-kafka>=2.6,<3'
fi
bash ./broker.sh install
