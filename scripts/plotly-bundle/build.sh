#!/usr/bin/env bash
# Rebuilds static/vendor/plotly-radreview-<version>.min.js, the partial plotly.js bundle the
# chart pages load (docs/decisions.md, "Issue 18: a partial Plotly bundle"). Needs node >= 18
# and the npm registry; the versions are package-lock.json's. Run it after changing
# entry.js (a new trace type) or the plotly.js version, which must stay the one the
# Python plotly package's figures are built for (plotly 7.1.0 -> plotly.js 4.1.1):
#   bash scripts/plotly-bundle/build.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
npm ci --no-audit --no-fund --loglevel=error
VERSION="$(node -p "require('plotly.js/package.json').version")"
OUT="$HERE/../../static/vendor/plotly-radreview-$VERSION.min.js"
node build.mjs "$OUT"
echo "wrote $OUT ($(wc -c <"$OUT") bytes)"
