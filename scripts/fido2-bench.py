#!/usr/bin/python3
"""NFC exchange rates of an independent client, for `npm run bench`: Yubico's python-fido2
(Debian python3-fido2 over python3-pyscard) against a U2F card through pcscd.

Usage: /usr/bin/python3 scripts/fido2-bench.py [READER_SUBSTRING] [SAMPLES]
  (defaults "Virtual PCD" and 1000)

Times U2F VERSION round trips (p50, p99 in ms, from SAMPLES) and enforce AUTHENTICATE
round trips per second (each signature verified afterwards, outside the timed loop), with
time.perf_counter around each call, and prints one JSON line:
  {"ok": true, "versionP50Ms": ..., "versionP99Ms": ..., "versionPerSecond": ...,
   "authPerSecond": ..., "verified": N}
or {"ok": false, "reason": ...} and exit 1. Run with /usr/bin/python3 (Debian's packages).
"""

import json
import os
import sys
import time


def fail(reason):
    print(json.dumps({"ok": False, "reason": reason}))
    sys.exit(1)


try:
    from fido2.ctap1 import Ctap1
    from fido2.pcsc import CtapPcscDevice
    from smartcard.System import readers as pcsc_readers
except ImportError as error:
    fail("python-fido2/pyscard not importable (%s): apt-get install python3-fido2 python3-pyscard" % error)


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p / 100.0 * len(sorted_values)))]


def main():
    substring = sys.argv[1] if len(sys.argv) > 1 else "Virtual PCD"
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    try:
        matching = [r for r in pcsc_readers() if substring.lower() in str(r).lower()]
    except Exception as error:
        fail("cannot list PC/SC readers (%s)" % error)
    if not matching:
        fail("no PC/SC reader matches %r" % substring)
    device = CtapPcscDevice(matching[0].createConnection(), str(matching[0]))
    try:
        ctap1 = Ctap1(device)
        for _ in range(50):
            ctap1.get_version()
        times = []
        started = time.perf_counter()
        for _ in range(samples):
            t0 = time.perf_counter()
            ctap1.get_version()
            times.append((time.perf_counter() - t0) * 1000.0)
        version_per_second = samples / (time.perf_counter() - started)
        times.sort()
        app, chal = os.urandom(32), os.urandom(32)
        reg = ctap1.register(chal, app)
        answers = []
        t0 = time.perf_counter()
        for _ in range(samples):
            answers.append(ctap1.authenticate(chal, app, reg.key_handle))
        elapsed = time.perf_counter() - t0
        for a in answers:
            a.verify(app, chal, reg.public_key)
        print(
            json.dumps(
                {
                    "ok": True,
                    "versionP50Ms": round(percentile(times, 50), 4),
                    "versionP99Ms": round(percentile(times, 99), 4),
                    "versionPerSecond": round(version_per_second, 1),
                    "authPerSecond": round(samples / elapsed, 1),
                    "verified": len(answers),
                }
            )
        )
    except Exception as error:
        fail("%s: %s" % (type(error).__name__, error))
    finally:
        try:
            device.close()
        except Exception:
            pass


if __name__ == "__main__":
    main()
