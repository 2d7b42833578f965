#!/bin/sh
# Builds the third-party U2F programs chiprig is calibrated against (docs/calibration.md),
# from local checkouts, into OUT_DIR. Nothing is downloaded and nothing is written into the
# checkouts or into this repository.
#
#   sh scripts/outside/build.sh OUT_DIR \
#     [--u2f-ref-code DIR]   google/u2f-ref-code checkout      (or U2F_REF_CODE_DIR)
#     [--mincrypt DIR]       Android libmincrypt sources       (or MINCRYPT_DIR)
#     [--libu2f-emu DIR]     Agnoctopus/libu2f-emu checkout    (or LIBU2F_EMU_DIR)
#
# --mincrypt is what u2f-ref-code's README has cloned as core/ (platform/system/core,
# lollipop-release): a tree with include/mincrypt/*.h and libmincrypt/*.c, or a flat
# directory with mincrypt/*.h beside dsa_sig.c, p256*.c and sha256.c. U2FTest needs it to
# check signatures; HIDTest does not.
#
# Each part is built when its source is given:
#   OUT_DIR/u2f-ref-code-hid/HIDTest, U2FTest       u2f-tests/HID (dev.cc speaks FIFOs for a
#                                                   device path ending in '-')
#   OUT_DIR/libu2f-emu/lib/libu2f-emu.so            the library (CMake, out of tree)
#   OUT_DIR/bridge/libu2f-emu-fifo-bridge           scripts/outside/libu2f-emu-fifo-bridge.c
#                                                   linked to it (rpath set: runs in place)
#
# Then point the calibration test at them:
#   CHIPRIG_U2F_REF_CODE_HID=OUT_DIR/u2f-ref-code-hid \
#   CHIPRIG_LIBU2F_EMU_BRIDGE=OUT_DIR/bridge/libu2f-emu-fifo-bridge \
#   NODE_OPTIONS='--import tsx' npx mocha --timeout 20000 test/e2e/calibration.test.ts
#
# Debian packages: g++ make pkg-config libhidapi-dev libudev-dev (u2f-ref-code);
# cmake ninja-build libssl-dev (libu2f-emu).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=
ref=${U2F_REF_CODE_DIR:-}
mincrypt=${MINCRYPT_DIR:-}
emu=${LIBU2F_EMU_DIR:-}

usage() {
  sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
  --u2f-ref-code) ref=$2; shift 2 ;;
  --mincrypt) mincrypt=$2; shift 2 ;;
  --libu2f-emu) emu=$2; shift 2 ;;
  -h | --help) usage ;;
  -*) echo "build.sh: unknown option $1" >&2; usage ;;
  *) [ -z "$out" ] || usage; out=$1; shift ;;
  esac
done
[ -n "$out" ] || usage
if [ -z "$ref" ] && [ -z "$emu" ]; then
  echo "build.sh: nothing to build: give --u2f-ref-code DIR and/or --libu2f-emu DIR" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || {
      echo "build.sh: $tool is not installed (see the Debian packages in this script's header)" >&2
      exit 1
    }
  done
}

abs() { (cd "$1" && pwd); }

# ---- u2f-ref-code u2f-tests/HID -------------------------------------------------------------
if [ -n "$ref" ]; then
  need make g++ cc pkg-config
  src=$(abs "$ref")/u2f-tests/HID
  [ -f "$src/dev.cc" ] || { echo "build.sh: $ref has no u2f-tests/HID/dev.cc" >&2; exit 1; }
  pkg-config --exists hidapi-hidraw || { echo "build.sh: hidapi-hidraw not found (libhidapi-dev)" >&2; exit 1; }
  dst=$out/u2f-ref-code-hid
  rm -rf "$dst"
  mkdir -p "$dst/core"
  cp "$src"/*.cc "$src"/*.c "$src"/*.h "$src/Makefile" "$dst/"
  targets=HIDTest
  if [ -n "$mincrypt" ]; then
    m=$(abs "$mincrypt")
    if [ -d "$m/include/mincrypt" ] && [ -d "$m/libmincrypt" ]; then
      ln -s "$m/include" "$dst/core/include"
      ln -s "$m/libmincrypt" "$dst/core/libmincrypt"
    elif [ -d "$m/mincrypt" ] && [ -f "$m/p256_ecdsa.c" ]; then
      ln -s "$m" "$dst/core/include"
      ln -s "$m" "$dst/core/libmincrypt"
    else
      echo "build.sh: $mincrypt holds neither include/mincrypt + libmincrypt/ nor mincrypt/ + p256_ecdsa.c" >&2
      exit 1
    fi
    targets="HIDTest U2FTest"
  else
    echo "build.sh: no --mincrypt: building HIDTest only (U2FTest needs libmincrypt)" >&2
  fi
  # shellcheck disable=SC2086 # two make targets
  make -C "$dst" $targets >"$dst/build.log" 2>&1 || { tail -30 "$dst/build.log" >&2; exit 1; }
  echo "built $(for t in $targets; do printf '%s ' "$dst/$t"; done)"
fi

# ---- libu2f-emu and the bridge --------------------------------------------------------------
if [ -n "$emu" ]; then
  need cmake cc
  src=$(abs "$emu")
  [ -f "$src/src/u2f-emu.h" ] || { echo "build.sh: $emu has no src/u2f-emu.h" >&2; exit 1; }
  gen="Unix Makefiles"
  command -v ninja >/dev/null 2>&1 && gen=Ninja
  bld=$out/libu2f-emu/build
  rm -rf "$out/libu2f-emu"
  mkdir -p "$bld" "$out/libu2f-emu/lib"
  # Its CMake build has -Werror, and OpenSSL 3 deprecates the EC_KEY calls it makes.
  cmake -S "$src" -B "$bld" -G "$gen" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="-Wno-deprecated-declarations" >"$out/libu2f-emu/build.log" 2>&1 &&
    cmake --build "$bld" --target u2f-emu >>"$out/libu2f-emu/build.log" 2>&1 ||
    { tail -30 "$out/libu2f-emu/build.log" >&2; exit 1; }
  cp -P "$bld"/src/libu2f-emu.so* "$out/libu2f-emu/lib/"
  lib=$out/libu2f-emu/lib
  mkdir -p "$out/bridge"
  cc -std=c99 -O2 -Wall -Wextra -Werror -I"$src/src" -o "$out/bridge/libu2f-emu-fifo-bridge" \
    "$here/libu2f-emu-fifo-bridge.c" -L"$lib" -lu2f-emu -Wl,-rpath,"$lib"
  echo "built $lib/libu2f-emu.so and $out/bridge/libu2f-emu-fifo-bridge"
fi
