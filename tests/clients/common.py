"""Shared helpers of the real-client checks: arguments, the credentials file, PASS/FAIL lines."""

import argparse
import json
import os
import sys
import traceback


def parse_args(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--credentials", default=os.environ.get("TRAINYARD_CREDENTIALS_FILE"),
                    help="credentials.json written by `trainyard serve` (default: $TRAINYARD_DATA_DIR"
                         "/credentials.json, else ./trainyard-data/credentials.json)")
    ap.add_argument("--endpoint", help="server URL (default: the file's endpoint)")
    ap.add_argument("--ak", help="access key to use instead of the file's (with --sk)")
    ap.add_argument("--sk", help="its secret key")
    args = ap.parse_args()
    path = args.credentials
    if not path:
        d = os.environ.get("TRAINYARD_DATA_DIR", "trainyard-data")
        path = os.path.join(d, "credentials.json")
    with open(path, encoding="utf-8") as f:
        creds = json.load(f)
    if args.endpoint:
        creds["endpoint"] = args.endpoint
    if args.ak and args.sk:
        creds["access_key"], creds["secret_key"] = args.ak, args.sk
    creds["endpoint"] = creds["endpoint"].rstrip("/")
    return creds


class Results:
    """Collects named checks; prints one line each and the `N passed, M failed` summary."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            self.failed += 1
            detail = f"{type(e).__name__}: {e}"
            print(f"FAIL {name}: {detail}", flush=True)
            if os.environ.get("TRAINYARD_CLIENTS_DEBUG"):
                traceback.print_exc()
            return None
        self.passed += 1
        print(f"PASS {name}", flush=True)
        return True

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)
