#!/usr/bin/env bash
# Refreshes the dashboard's third-party files from their npm packages (the versions pinned below)
# into crates/iotstream/assets/vendor, with their licences. The binary embeds what is there; run
# this only to change versions, then commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(us-atlas@3.0.1 topojson-client@3.1.0 uplot@1.6.32)
vendor=crates/iotstream/assets/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "${packages[@]}" >/dev/null)
for tarball in "$work"/*.tgz; do
  mkdir -p "${tarball%.tgz}" && tar xzf "$tarball" -C "${tarball%.tgz}"
done
pkg() { echo "$work/$1-$2/package"; }
mkdir -p "$vendor/us-atlas" "$vendor/topojson-client" "$vendor/uplot"
cp "$(pkg us-atlas 3.0.1)"/{states-albers-10m.json,LICENSE} "$vendor/us-atlas/"
cp "$(pkg topojson-client 3.1.0)"/{dist/topojson-client.min.js,LICENSE} "$vendor/topojson-client/"
cp "$(pkg uplot 1.6.32)"/{dist/uPlot.iife.min.js,dist/uPlot.min.css,LICENSE} "$vendor/uplot/"

# One file with every licence, embedded in the binary and served at /assets/LICENSES.txt.
{
  for spec in "${packages[@]}"; do
    name=${spec%@*} version=${spec#*@}
    printf '%s\n%s %s (npm package "%s")\n%s\n' "$(printf '=%.0s' {1..64})" "$name" "$version" "$name" "$(printf '=%.0s' {1..64})"
    cat "$vendor/$name/LICENSE"
    echo
  done
} > "$vendor/LICENSES.txt"
echo "vendored: ${packages[*]}"
