#!/usr/bin/env bash
# Builds the httpcap image from the Dockerfile's runtime stage with buildah,
# around a binary built outside it (by default target/release/httpcap), on
# the local base image tools/image/base.sh makes: no registry and no
# Docker engine needed. With --save, also writes the image as an archive
# `docker load -i FILE` reads.
#
#   tools/image/build.sh [--binary PATH] [--tag NAME] [--save FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
binary=target/release/httpcap
tag=localhost/httpcap:latest
save=
while (($#)); do
  case $1 in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --save) save=$2; shift 2 ;;
    *) echo "image build: unknown argument $1 (--binary PATH, --tag NAME, --save FILE)" >&2; exit 2 ;;
  esac
done
[[ -x $binary ]] || { echo "image build: no binary at $binary (cargo build --release -p httpcap)" >&2; exit 2; }
bash tools/image/base.sh
# The Dockerfile's build stage is replaced by a context holding the binary
# where that stage leaves it, so buildah skips the stage; the runtime
# stage's `FROM debian:bookworm-slim` resolves to the local base.
ctx=$(mktemp -d /tmp/httpcap-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/src/target/release"
cp "$binary" "$ctx/src/target/release/httpcap"
buildah bud --quiet --pull=never --network host \
  --build-context build="$ctx" \
  --build-context debian:bookworm-slim=container-image://localhost/debian:bookworm-slim \
  --tag "$tag" -f Dockerfile . >/dev/null
echo "image build: $tag" >&2
if [[ -n $save ]]; then
  rm -f "$save"
  buildah push --quiet "$tag" "docker-archive:$save:httpcap:latest" >/dev/null
  echo "image build: $save (docker load -i $save)" >&2
fi
