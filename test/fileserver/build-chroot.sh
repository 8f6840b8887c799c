#!/usr/bin/env bash
# A Debian 13 (trixie) root file system with Samba (smbd ≥ 4.20, which has `smb3 share cap:CLUSTER`
# and `smb3 share cap:CONTINUOUS AVAILABILITY`; Debian 12's 4.17 has neither), for the end-to-end
# file-server test. Made with debootstrap from Debian's own mirror, --variant=minbase plus samba
# only, and cached: the directory's name is a hash of the recipe below, so a changed recipe builds a
# new tree and an unchanged one is reused (CI builds it once per run, a developer once).
#
#   build-chroot.sh          prints the tree's path (building it first when missing)
#   build-chroot.sh --path   prints the path it would use, builds nothing
#
# Environment: PW_FILESERVER_CACHE (default /var/cache/pacemaker-witness-test).
set -euo pipefail

SUITE=trixie
MIRROR=http://deb.debian.org/debian
VARIANT=minbase
INCLUDE=samba
# Bump when the steps after debootstrap change.
RECIPE_VERSION=1

CACHE=${PW_FILESERVER_CACHE:-/var/cache/pacemaker-witness-test}
key=$(printf '%s\n' "$SUITE" "$MIRROR" "$VARIANT" "$INCLUDE" "$RECIPE_VERSION" | sha256sum | cut -c1-16)
ROOTFS=$CACHE/samba-$SUITE-$key

if [ "${1:-}" = --path ]; then echo "$ROOTFS"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "build-chroot: must run as root" >&2; exit 1; }
command -v debootstrap > /dev/null || { echo "build-chroot: debootstrap is missing (.ci/setup installs it)" >&2; exit 1; }

mkdir -p "$CACHE"
# One builder at a time; a second caller waits and then finds the tree made.
exec 9> "$CACHE/.lock"
flock 9
if [ -f "$ROOTFS/.complete" ]; then echo "$ROOTFS"; exit 0; fi

t0=$(date +%s.%N)
tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$tmp/root" "$MIRROR" > "$tmp/debootstrap.log" 2>&1 || {
  tail -30 "$tmp/debootstrap.log" >&2; echo "build-chroot: debootstrap failed" >&2; exit 1; }
# The test starts smbd itself, in the node's namespaces: nothing in the tree may start services.
printf '#!/bin/sh\nexit 101\n' > "$tmp/root/usr/sbin/policy-rc.d"
chmod 755 "$tmp/root/usr/sbin/policy-rc.d"
# Package caches are not needed to run smbd; they are most of the tree's size.
rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
# Samba's packaged smb.conf and state are replaced by the test's own at run time.
chroot "$tmp/root" /usr/sbin/smbd --version > "$tmp/root/.smbd-version"
rm -rf "$ROOTFS"
mv "$tmp/root" "$ROOTFS"
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "$secs" > "$ROOTFS/.build-seconds"
touch "$ROOTFS/.complete"
echo "build-chroot: built $ROOTFS ($(cat "$ROOTFS/.smbd-version")) in ${secs} s, $(du -sh --one-file-system "$ROOTFS" | cut -f1)" >&2
echo "$ROOTFS"
