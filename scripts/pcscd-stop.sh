#!/bin/sh
# Stops the pcscd started by pcscd-start.sh (SIGTERM; pcscd removes its socket on exit).
set -eu
pidfile=/run/pcscd/pcscd.pid
pid=$(cat "$pidfile" 2>/dev/null || pgrep -x pcscd | head -n 1 || true)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  echo "pcscd is not running"
  exit 0
fi
# The shim pcscd-start.sh built lives in a temp dir named in pcscd's LD_PRELOAD: remove it after.
shim=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^LD_PRELOAD=//p' || true)
kill "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -gt 50 ] && { echo "pcscd (pid $pid) did not stop within 5 s" >&2; exit 1; }
  sleep 0.1
done
rm -f /run/pcscd/chiprig-nagle-fix
case "$shim" in /tmp/chiprig-pcscd-shim.*/pcscd-shim.so) rm -rf "$(dirname "$shim")" ;; esac
echo "stopped pcscd (pid $pid)"
