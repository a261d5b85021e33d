"""Queue emails in django-post_office, one `post_office.mail.send` each, the way an application
queues them; prints the loop's wall time and this process's CPU over it, as JSON.

    DJANGO_SETTINGS_MODULE=bench.peer_settings python -m bench.peer_enqueue \
        --items N --prefix P --sender ADDRESS

Run as a process of its own, so Django's setup stays out of the bench process and out of the
figures (only the loop is measured, as `publish_many` measures only mailroute's publishing).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_enqueue")
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--to", default="client@example.com")
    parser.add_argument("--text", default="Hello, please find your invoice attached.")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer_settings")
    django.setup()
    from post_office import mail

    cpu_before, started = time.process_time(), time.monotonic()
    for i in range(args.items):
        mail.send(
            [args.to],
            args.sender,
            subject=f"Invoice {args.prefix}-{i}",
            message=args.text,
            priority="medium",
        )
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_before
    print(json.dumps({"items": args.items, "seconds": seconds, "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
