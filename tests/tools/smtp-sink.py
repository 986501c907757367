"""A real SMTP server for the e-mail tests (aiosmtpd, pinned in tests/tools/requirements.txt).

    .venv/bin/python tests/tools/smtp-sink.py [--refuse-first N] [--refuse-code 451]

listens on a free loopback port and prints "ready <port>", then one JSON line per message it
accepts: {"from": ..., "to": [...], "data": "<the message as received>"}. The first N messages
are answered with the given code (451: try later; 550: refused for good) instead, so a test sees
Gameday's retries. It stops when its standard input closes (the test that started it ended).
"""

import argparse
import json
import socket
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, refuse_first, refuse_code):
        self.refuse_left = refuse_first
        self.refuse_code = refuse_code

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_left > 0:
            self.refuse_left -= 1
            print(json.dumps({"refused": self.refuse_code, "to": envelope.rcpt_tos}), flush=True)
            return f"{self.refuse_code} Not now, for the test"
        data = envelope.content.decode("utf-8", errors="replace")
        print(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos, "data": data}), flush=True)
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--refuse-first", type=int, default=0)
    parser.add_argument("--refuse-code", type=int, default=451)
    args = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(args.refuse_first, args.refuse_code), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"ready {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
