#!/usr/bin/python3
"""Cross-checks a U2F card over PC/SC with an independent client: Yubico's python-fido2.

Usage: /usr/bin/python3 scripts/fido2-crosscheck.py [READER_SUBSTRING]   (default "Virtual PCD")

Run with /usr/bin/python3: Debian's python3-fido2 (0.9.1) and python3-pyscard live there,
not in the pyenv python3 on PATH. Registers a credential and authenticates with it using
random challenge and application parameters, verifies both signatures with python-fido2's
own verify methods (attestation certificate, then the credential's public key), checks the
user-presence flag and that the counter increases, and prints one JSON line:
  {"ok": true, "version": ..., "counter": ..., "keyHandleLength": ..., "attestationSubject": ...}
exit 0; or {"ok": false, "reason": ...} and exit 1.
"""

import json
import os
import sys
import time

# 6985 CONDITIONS_NOT_SATISFIED: no user presence yet. An emulated NFC card gives presence
# by the tap itself; a real key may need a touch, so poll like a browser would.
SW_CONDITIONS_NOT_SATISFIED = 0x6985
PRESENCE_TIMEOUT_S = 10.0
POLL_S = 0.1


def fail(reason):
    print(json.dumps({"ok": False, "reason": reason}))
    sys.exit(1)


try:
    from cryptography import x509
    from cryptography.hazmat.backends import default_backend
    from fido2.ctap1 import ApduError, Ctap1
    from fido2.pcsc import CtapPcscDevice
    from smartcard.System import readers as pcsc_readers
except ImportError as error:
    fail(
        "python-fido2/pyscard not importable (%s): apt-get install python3-fido2 python3-pyscard "
        "and run with /usr/bin/python3" % error
    )


def open_device(substring):
    """The FIDO device in the first matching reader. python-fido2's own list_devices()
    swallows every error, so the devices are opened here to be able to say why one failed."""
    try:
        all_readers = pcsc_readers()
    except Exception as error:  # pyscard raises several unrelated types when pcscd is down
        fail("cannot list PC/SC readers (%s): is pcscd running? (scripts/pcscd-start.sh)" % error)
    matching = [r for r in all_readers if substring.lower() in str(r).lower()]
    if not matching:
        fail("no PC/SC reader matches %r (readers: %s)" % (substring, ", ".join(map(str, all_readers)) or "none"))
    errors = []
    for reader in matching:
        try:
            # Connects, SELECTs the FIDO AID (no Le) and probes CTAP2 (80 10 80 00 01 04 00);
            # a U2F-only card answers 6D00 there and is kept for CTAP1 if SELECT said U2F_V2.
            return CtapPcscDevice(reader.createConnection(), str(reader))
        except Exception as error:
            errors.append("%s: %s" % (reader, error or type(error).__name__))
    fail("no FIDO card found: " + "; ".join(errors))


def with_presence(call):
    deadline = time.monotonic() + PRESENCE_TIMEOUT_S
    while True:
        try:
            return call()
        except ApduError as error:
            if error.code != SW_CONDITIONS_NOT_SATISFIED or time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)


def main():
    substring = sys.argv[1] if len(sys.argv) > 1 else "Virtual PCD"
    device = open_device(substring)
    try:
        ctap1 = Ctap1(device)
        version = ctap1.get_version()
        if version != "U2F_V2":
            fail("VERSION answered %r, expected 'U2F_V2'" % version)

        app_param, client_param = os.urandom(32), os.urandom(32)
        registration = with_presence(lambda: ctap1.register(client_param, app_param))
        try:
            registration.verify(app_param, client_param)
        except Exception as error:
            fail("registration signature does not verify with the attestation certificate: %r" % error)
        cert = x509.load_der_x509_certificate(bytes(registration.certificate), default_backend())

        counters = []
        for _ in range(2):
            client_param = os.urandom(32)
            signature = with_presence(
                lambda: ctap1.authenticate(client_param, app_param, registration.key_handle)
            )
            try:
                signature.verify(app_param, client_param, registration.public_key)
            except Exception as error:
                fail("authentication signature does not verify with the user public key: %r" % error)
            if not signature.user_presence & 0x01:
                fail("authentication response lacks the user-presence flag (0x%02x)" % signature.user_presence)
            counters.append(signature.counter)
        if counters[1] <= counters[0]:
            fail("counter did not increase: %d then %d" % tuple(counters))

        print(
            json.dumps(
                {
                    "ok": True,
                    "reader": str(device).split("(", 1)[-1].rstrip(")"),
                    "version": version,
                    "counter": counters[1],
                    "keyHandleLength": len(registration.key_handle),
                    "attestationSubject": cert.subject.rfc4514_string(),
                }
            )
        )
    except ApduError as error:
        fail("card answered SW %04X" % error.code)
    except SystemExit:
        raise
    except Exception as error:
        fail("%s: %s" % (type(error).__name__, error))
    finally:
        try:
            device.close()
        except Exception:
            pass


if __name__ == "__main__":
    main()
