#!/bin/sh
# Starts pcscd for the NFC path (vpcd reader "Virtual PCD 00 00" on TCP 35963) with the
# shim in scripts/pcscd-shim.c: TCP_NODELAY, so APDUs through vpcd take ~0.2 ms instead of
# ~44 ms (docs/emulation.md, NFC), and vpcd's ports bound to loopback instead of 0.0.0.0
# (set CHIPRIG_VPCD_BIND=any to keep them open to the network). Idempotent: does nothing
# when pcscd already answers. Records the Nagle fix in force in /run/pcscd/chiprig-nagle-fix
# ("ld-preload-nodelay" or "none") for latency reports.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sock=/run/pcscd/pcscd.comm
marker=/run/pcscd/chiprig-nagle-fix

answers() {
  # A stale socket file survives a killed pcscd: probe that something accepts on it.
  [ -S "$sock" ] || return 1
  if command -v python3 >/dev/null 2>&1; then
    python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(sys.argv[1])" "$sock" 2>/dev/null
  else
    pgrep -x pcscd >/dev/null 2>&1
  fi
}

if answers; then
  echo "pcscd already running (nagle fix: $(cat "$marker" 2>/dev/null || echo unknown)); nothing to do"
  exit 0
fi

command -v pcscd >/dev/null 2>&1 || { echo "pcscd not found: apt-get install pcscd vsmartcard-vpcd" >&2; exit 1; }
[ -e /etc/reader.conf.d/vpcd ] || echo "warning: /etc/reader.conf.d/vpcd missing: apt-get install vsmartcard-vpcd" >&2

fix=none
preload=
if command -v gcc >/dev/null 2>&1; then
  dir=$(mktemp -d /tmp/chiprig-pcscd-shim.XXXXXX)
  if gcc -shared -fPIC -O2 -o "$dir/pcscd-shim.so" "$here/pcscd-shim.c" -ldl 2>"$dir/gcc.log"; then
    preload="$dir/pcscd-shim.so"
    fix=ld-preload-nodelay
  else
    echo "warning: building the TCP_NODELAY shim failed (see $dir/gcc.log)" >&2
  fi
fi
[ -n "$preload" ] || echo "no pcscd shim (gcc missing or failed): APDUs through vpcd will take ~44 ms each, and vpcd listens on every interface (TCP 35963/35964)"

rm -f "$sock"
if [ -n "$preload" ]; then
  CHIPRIG_VPCD_BIND="${CHIPRIG_VPCD_BIND:-loopback}" LD_PRELOAD="$preload" nohup pcscd -f -i >/tmp/chiprig-pcscd.log 2>&1 &
else
  nohup pcscd -f -i >/tmp/chiprig-pcscd.log 2>&1 &
fi
pid=$!

i=0
while [ ! -S "$sock" ]; do
  i=$((i + 1))
  if [ "$i" -gt 50 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "pcscd did not come up within 5 s (log: /tmp/chiprig-pcscd.log)" >&2
    exit 1
  fi
  sleep 0.1
done
echo "$fix" >"$marker"
echo "started pcscd -f -i (pid $pid, nagle fix: $fix${preload:+, LD_PRELOAD=$preload}, log /tmp/chiprig-pcscd.log)"
