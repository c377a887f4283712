#!/usr/bin/env bash
# Lints (and checks the formatting of) the protobuf contracts in proto/ with the buf CLI pinned in
# package.json / package-lock.json (npm package @bufbuild/buf, which ships the buf binary for this
# platform; no other download). Installs it with `npm ci` when it is missing or not the pinned version.
# Configuration: proto/buf.yaml. Needs node and npm. Usage: bash scripts/buf-lint.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "buf-lint: repository root $(pwd)"

buf=node_modules/.bin/buf

run() {
  echo "+ $*"
  "$@"
}

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "buf-lint: error: '$tool' not found; install Node.js (18 or newer) with npm" >&2
    exit 1
  fi
done

pinned=$(node -p "require('./package-lock.json').packages['node_modules/@bufbuild/buf'].version")

installed=""
if [[ -x "$buf" ]]; then
  installed=$("$buf" --version 2>/dev/null || true)
fi

if [[ "$installed" != "$pinned" ]]; then
  echo "buf-lint: buf ${pinned} not installed (found: ${installed:-none}); installing the pinned version"
  run npm ci --no-audit --no-fund
fi

echo "buf-lint: buf $("$buf" --version)"
run "$buf" lint proto
run "$buf" format --diff --exit-code proto || {
  echo "buf-lint: proto files are not buf-formatted; fix with: npx buf format -w proto" >&2
  exit 1
}
echo "buf-lint: OK"
