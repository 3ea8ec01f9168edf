#!/usr/bin/env bash
# Browser test: builds homeward (release), starts `homeward serve` on a free
# loopback port with a temporary data dir, runs the Chromium test against it,
# and stops the server. Both scripts share the server. Needs /usr/bin/chromium (apt-get install -y chromium)
# and Node.js with npm (playwright-core is installed from package-lock.json);
# Chinese pages need a CJK font for readable screenshots
# (apt-get install -y fonts-wqy-microhei).
# HOMEWARD_BIN=path skips the build and uses that binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ -n "${HOMEWARD_BIN:-}" ]; then
  bin="$HOMEWARD_BIN"
else
  cargo build --release -p homeward --bin homeward
  bin="$target/release/homeward"
fi
[ -d "$here/node_modules/playwright-core" ] || (cd "$here" && npm ci --no-audit --no-fund)

data="$(mktemp -d)"
export HOMEWARD_ADMIN_USER=admin
export HOMEWARD_ADMIN_PASSWORD="browser-test-admin-$(date +%s%N)"
"$bin" serve --db "$data/db" --addr 127.0.0.1:0 --insecure-cookies --upsample 0 \
  >"$data/stdout" 2>"$data/stderr" &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  grep -q "listening on" "$data/stdout" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/stderr" >&2; exit 1; }
  sleep 0.1
done
url="$(sed -n 's/^homeward serve: listening on //p' "$data/stdout" | head -n1)"
[ -n "$url" ] || { echo "server did not start" >&2; cat "$data/stderr" >&2; exit 1; }
HOMEWARD_URL="$url" node "$here/submit_and_review.mjs"
# The volunteer flow in zh-CN and en (issue 15); screenshots in docs/screenshots/.
HOMEWARD_URL="$url" node "$here/volunteer.mjs"
# Review a team can share (issue 15): filters, the boxed face, crops, confirm /
# undo / close, the audit page, in en and zh-CN; screenshots in docs/screenshots/.
HOMEWARD_URL="$url" node "$here/review.mjs"
