#!/usr/bin/env bash
# Makes the base image the Dockerfile's runtime stage starts from,
# `localhost/debian:bookworm-slim`, without a registry: a minimal Debian 12
# root file system from debootstrap, imported into buildah's storage.
# Idempotent: does nothing when the image exists. Needs root, buildah and
# debootstrap (tools/setup.sh installs them) and the Debian mirror.
#
#   tools/image/base.sh [MIRROR]
#
# MIRROR defaults to the host's own Debian mirror (its debian.sources),
# else deb.debian.org; the image's apt sources are the host's when it has
# them (security updates included), so its packages come from where the
# host's do.
set -euo pipefail
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
image=localhost/debian:bookworm-slim
sources=/etc/apt/sources.list.d/debian.sources
host_mirror=$(awk '/^URIs:/ { print $2; exit }' "$sources" 2>/dev/null || true)
mirror=${1:-${host_mirror:-http://deb.debian.org/debian}}

if buildah inspect --type image "$image" >/dev/null 2>&1; then
  exit 0
fi
rootfs=$(mktemp -d /tmp/httpcap-rootfs.XXXXXX)
ctr=
cleanup() {
  [[ -n $ctr ]] && buildah rm "$ctr" >/dev/null 2>&1
  rm -rf "$rootfs"
}
trap cleanup EXIT
echo "image base: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -20 "$rootfs.log" >&2
  echo "image base: debootstrap failed (log above)" >&2
  exit 1
}
rm -f "$rootfs.log"
if [[ -z ${1:-} && -f $sources ]]; then
  cp "$sources" "$rootfs/etc/apt/sources.list.d/debian.sources"
  rm -f "$rootfs/etc/apt/sources.list"
fi
# What a slim image leaves out: downloaded packages and package lists.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
cp -a "$rootfs"/. "$mnt"/
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$ctr"
buildah commit --quiet "$ctr" "$image" >/dev/null
echo "image base: $image" >&2
