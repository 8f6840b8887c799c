#!/usr/bin/env bash
# Installs the resource agent where Pacemaker looks for ocf:witness:witnessd, pointing at this
# checkout's build. Idempotent. `ocf/install.sh --uninstall` removes it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${OCF_ROOT:-/usr/lib/ocf}/resource.d/witness/witnessd
if [ "${1:-}" = --uninstall ]; then
  rm -f "$target"
  rmdir "$(dirname "$target")" 2>/dev/null || true
  echo "removed $target"
  exit 0
fi
[ -f "$root/dist/ocf/witnessd-main.js" ] || { echo "install-agent: run 'npm run build' first ($root/dist is missing)" >&2; exit 5; }
node=$(command -v node) || { echo "install-agent: node not found" >&2; exit 5; }
tmp=$(mktemp)
sed -e "s|@WITNESS_ROOT@|$root|" -e "s|@NODE@|$node|" "$root/ocf/witnessd" > "$tmp"
install -D -m 0755 -o root -g root "$tmp" "$target"
rm -f "$tmp"
echo "installed $target -> $root"
