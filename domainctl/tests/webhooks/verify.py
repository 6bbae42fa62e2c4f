"""Verifies captured webhook deliveries with the Standard Webhooks reference library.

Reads a JSON list on stdin, each item {"secret": "whsec_...", "headers": {...}, "body": "..."},
and writes a JSON list: {"ok": true, "payload": ...} where the library accepts the
delivery, else {"ok": false, "error": "..."}. The service's own signing code is never used.
"""

import json
import sys

from standardwebhooks import Webhook


def main() -> None:
    results = []
    for case in json.load(sys.stdin):
        try:
            payload = Webhook(case["secret"]).verify(case["body"], case["headers"])
            results.append({"ok": True, "payload": payload})
        except Exception as error:  # the library's verification errors, reported back
            results.append({"ok": False, "error": f"{type(error).__name__}: {error}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
