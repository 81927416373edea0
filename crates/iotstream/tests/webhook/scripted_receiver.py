#!/usr/bin/env python3
"""A webhook receiver that answers from a script (Python's http.server, independent of iotstream's
HTTP stack): the Nth request gets the Nth status given, and every request after the script ends
gets 200. Prints its port, then one JSON line per request, as it comes:
{"n", "status", "key", "body"} (n from 1; key: the Idempotency-Key header).

    scripted_receiver.py STATUS...
"""
import http.server
import json
import sys


def main():
    script = [int(status) for status in sys.argv[1:]]
    seen = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(1)
            n = len(seen)
            status = script[n - 1] if n <= len(script) else 200
            print(json.dumps({"n": n, "status": status, "key": self.headers.get("Idempotency-Key"),
                              "body": body.decode()}), flush=True)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    print(server.server_address[1], flush=True)
    server.serve_forever()


main()
