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
