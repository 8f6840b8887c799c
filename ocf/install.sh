#!/usr/bin/env bash
# Installs the resource agents where Pacemaker looks for ocf:witness:witnessd (and
# ocf:witness:tickle, docs/deploy-samba.md), pointing at this checkout's build. Idempotent.
# `ocf/install.sh --uninstall` removes them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${OCF_ROOT:-/usr/lib/ocf}/resource.d/witness/witnessd
tickle=$(dirname "$target")/tickle
if [ "${1:-}" = --uninstall ]; then
  rm -f "$target" "$tickle"
  rmdir "$(dirname "$target")" 2>/dev/null || true
  echo "removed $target"
  exit 0
fi
# The Debian package (npm run package) installs the same two files; this would replace them with
# the checkout's, and removing the package would then remove the checkout's.
if owner=$(dpkg-query -S "$target" 2>/dev/null); then
  echo "install-agent: warning: $target belongs to ${owner%%:*} (the package); replacing it with this checkout's (dpkg -r ${owner%%:*} would remove it)" >&2
fi
[ -f "$root/dist/ocf/witnessd-main.js" ] || { echo "install-agent: run 'npm run build' first ($root/dist is missing)" >&2; exit 5; }
node=$(command -v node) || { echo "install-agent: node not found" >&2; exit 5; }
tmp=$(mktemp)
sed -e "s|@WITNESS_ROOT@|$root|" -e "s|@NODE@|$node|" "$root/ocf/witnessd" > "$tmp"
install -D -m 0755 -o root -g root "$tmp" "$target"
sed -e "s|@WITNESS_ROOT@|$root|" -e "s|@NODE@|$node|" "$root/ocf/tickle" > "$tmp"
install -D -m 0755 -o root -g root "$tmp" "$tickle"
rm -f "$tmp"
echo "installed $target -> $root"
echo "installed $tickle -> $root"
