#!/usr/bin/env bash
# usage: measure.sh BIN OUTPREFIX FILE [extra serve args...]
# Starts `BIN serve` under /usr/bin/time -v, signs in as admin, makes a
# volunteer with a token, POSTs FILE to /api/sightings as the volunteer,
# stops the server and prints status, wall time of the request and peak RSS.
set -u
BIN=$1; OUT=$2; FILE=$3; shift 3
DB=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
HOMEWARD_ADMIN_USER=admin HOMEWARD_ADMIN_PASSWORD='admin password for tests' \
  /usr/bin/time -v -o "$OUT.time" "$BIN" serve --db "$DB" --addr 127.0.0.1:$PORT --insecure-cookies "$@" >"$OUT.stdout" 2>"$OUT.stderr" &
TPID=$!
for i in $(seq 1 100); do grep -q listening "$OUT.stdout" 2>/dev/null && break; sleep 0.2; done
B=http://127.0.0.1:$PORT
curl -s -c "$OUT.jar" -H 'Content-Type: application/json' -d '{"username":"admin","password":"admin password for tests"}' $B/api/session > "$OUT.login"
CSRF=$(python3 -c "import json;print(json.load(open('$OUT.login'))['csrf_token'])")
UID_=$(curl -s -b "$OUT.jar" -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' -d '{"username":"vol","password":"a long test password","role":"volunteer"}' $B/api/users | python3 -c "import json,sys;print(json.load(sys.stdin)['id'])")
TOKEN=$(curl -s -b "$OUT.jar" -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' -d "{\"user_id\":$UID_,\"name\":\"m\"}" $B/api/tokens | python3 -c "import json,sys;print(json.load(sys.stdin)['token'])")
START=$(date +%s.%N)
curl -s -o "$OUT.body" -D "$OUT.headers" -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" -F "photo=@$FILE" -F place=x $B/api/sightings > "$OUT.code"
END=$(date +%s.%N)
sleep 1
SPID=$(pgrep -P $TPID)
kill -TERM $SPID; wait $TPID
echo "file=$FILE status=$(cat $OUT.code) request_s=$(python3 -c "print(round($END-$START,1))") peak_rss_kb=$(grep 'Maximum resident' $OUT.time | awk '{print $NF}') cpu_user_s=$(grep 'User time' $OUT.time | awk '{print $NF}')"
head -c 400 "$OUT.body"; echo
rm -rf "$DB"
