#!/usr/bin/env bash
# Refresh the UI's vendored third-party files from the npm registry (needs npm; nothing else does).
#   asynctrack/server/ui/vendor.sh [UPLOT_VERSION]
# Downloads the pinned uPlot package tarball with `npm pack` into a temporary directory and copies the
# ES module build, its stylesheet and its licence into static/vendor/uplot/. Commit the result.
set -euo pipefail
UPLOT_VERSION="${1:-1.6.32}"
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/static/vendor/uplot"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null && tar xzf "uplot-$UPLOT_VERSION.tgz")
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.esm.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dest/"
echo "$UPLOT_VERSION" > "$dest/VERSION"
echo "uPlot $UPLOT_VERSION vendored into $dest"
