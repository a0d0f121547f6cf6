#!/bin/bash
# control.sh: end-to-end check of master + the postern command on a throw-away instance:
# init, start, double start refused, status, delivery, killed qmgr restarted within 1 s,
# reload without refused connections, restart after kill -9 of master, stop.
# usage: master/tests/control.sh BUILDDIR [PORT]     (exit 0 = all passed)
set -u
BUILD=$(cd "${1:?usage: control.sh BUILDDIR [PORT]}" && pwd)
PORT=${2:-24525}
P="$BUILD/cmd/postern"
PY=/usr/bin/python3
DIR=$(mktemp -d /tmp/postern-ctl.XXXXXX)
fails=0
ok()   { echo "ok   - $*"; }
bad()  { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }
cleanup() {
    "$P" -c "$DIR/conf" stop >/dev/null 2>&1
    for pid in $(pgrep -f -- "-c $DIR/conf" || true); do kill -9 "$pid" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT
send() {
    $PY - "$PORT" "$1" <<'PYEOF'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.sendmail("a@b.test", ["demo@example.test"], ("Subject: %s\r\n\r\nbody\r\n" % sys.argv[2]).encode())
s.quit()
PYEOF
}
wait_mail() {   # wait_mail N: up to 10 s for N files in demo's new/
    for _ in $(seq 100); do
        [ "$(ls "$DIR/mail/example.test/demo/new" 2>/dev/null | wc -l)" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
child_pid() { pgrep -f -- "^$1 -c $DIR/conf" | head -1; }

check "init" "$P" init "$DIR" --port "$PORT"
check "start" "$P" -c "$DIR/conf" start
out=$("$P" -c "$DIR/conf" start 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "already running as PID"; then ok "second start refused"; else bad "second start refused ($rc: $out)"; fi
check "status running" "$P" -c "$DIR/conf" status
check "deliver" send one
check "delivered" wait_mail 1
q=$(child_pid qmgr); kill -9 "$q"; sleep 1
q2=$(child_pid qmgr)
if [ -n "$q2" ] && [ "$q2" != "$q" ]; then ok "qmgr restarted within 1 s"; else bad "qmgr restarted within 1 s"; fi
check "reload" "$P" -c "$DIR/conf" reload
check "deliver after reload" send two
check "delivered after reload" wait_mail 2
kill -9 "$(cat "$DIR/queue/pid/master.pid")"; sleep 0.2
check "start after kill -9 of master" "$P" -c "$DIR/conf" start
check "deliver after restart" send three
check "delivered after restart" wait_mail 3
check "stop" "$P" -c "$DIR/conf" stop
"$P" -c "$DIR/conf" status >/dev/null; [ $? -eq 1 ] && ok "status not running" || bad "status not running"
grep -q "daemon started -- version" "$DIR/maillog" && ok "log: daemon started" || bad "log: daemon started"
grep -q "terminating on signal 15" "$DIR/maillog" && ok "log: terminating" || bad "log: terminating"
if grep -E "panic:|fatal:" "$DIR/maillog"; then bad "no fatal/panic in log"; else ok "no fatal/panic in log"; fi
echo "$fails failed"
[ $fails -eq 0 ]
