"""Drives the test project through Django's test client with the SDK in its
LOGGING dict, shipping to the Sawmill at $SAWMILL_URL with $SAWMILL_API_KEY.

Usage: run.py PREFIX. Requests carry X-Request-ID PREFIX-hello, PREFIX-boom
(the view raises) and PREFIX-order (an eager Celery task fails). Prints one
JSON object (statuses, request ids, the task id) and exits 0 when every
status is as expected and every record was delivered.
"""

import json
import os
import sys

_tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(_tests), _tests]  # the sawmill package, djangoapp
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")


def main() -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    import sawmill

    call_command("migrate", verbosity=0)
    prefix = sys.argv[1]
    c = Client(raise_request_exception=False)
    out = {}
    for name, path, want in (("hello", "/hello", 200), ("boom", "/boom", 500), ("order", "/order", 202)):
        resp = c.get(path, HTTP_X_REQUEST_ID="%s-%s" % (prefix, name))
        out[name] = {"status": resp.status_code, "request_id": resp["X-Request-ID"]}
        if resp.status_code != want:
            print("%s: status %d, want %d" % (path, resp.status_code, want), file=sys.stderr)
            return 1
        if name == "order":
            out["task_id"] = json.loads(resp.content)["task_id"]
    delivered = sawmill.flush_all(20)
    handlers = [h for h in __import__("logging").getLogger().handlers if isinstance(h, sawmill.Handler)]
    out["stats"] = [h.stats() for h in handlers]
    print(json.dumps(out))
    if not handlers or not delivered or any(s["failed"] or s["dropped"] for s in out["stats"]):
        print("not delivered: %s" % out["stats"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
