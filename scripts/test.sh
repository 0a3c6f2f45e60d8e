#!/usr/bin/env bash
# The whole test suite: schema checks, lint, types, then every vitest suite.
# npm runs this with Node 24 first on PATH (the `node` devDependency).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== buf lint"
buf lint

# Refuse wire-breaking schema changes: against main from a branch, else against the previous commit.
if git rev-parse --verify -q main >/dev/null && [ "$(git rev-parse HEAD)" != "$(git rev-parse main)" ]; then
  against=".git#branch=main"
elif git cat-file -e HEAD~1:proto 2>/dev/null; then
  against=".git#ref=HEAD~1"
else
  against=""
fi
if [ -n "$against" ]; then
  echo "== buf breaking against $against"
  buf breaking --against "$against"
fi

echo "== generated code is current"
buf generate
if ! git diff --quiet -- services/gen || [ -n "$(git ls-files --others --exclude-standard services/gen)" ]; then
  echo "services/gen differs from 'npm run generate'; commit the regenerated code" >&2
  git status --short services/gen >&2
  exit 1
fi

echo "== biome (lint + format)"
biome ci .

echo "== tsc"
tsc --noEmit -p tsconfig.json

echo "== vitest"
report="$(mktemp -d)/vitest.json"
status=0
vitest run --reporter=default --reporter=json --outputFile="$report" "$@" || status=$?
# One plain closing line that any CI reads: "N passed, N failed". A test that did not pass counts
# as failed, so the tests of a file whose set-up failed (vitest skips them) are not lost from it:
# the project skips no test on purpose.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numTotalTests - r.numPassedTests - (r.numTodoTests ?? 0)} failed`);
' "$report" || true
exit "$status"
