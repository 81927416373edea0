"""A webhook receiver over https (Python's http.server and ssl), independent of iotstream's HTTP
stack: prints its port, then one JSON line per request taken: {"key", "signature", "body"}.

    https_receiver.py CERT.pem KEY.pem
"""
import http.server
import json
import ssl
import sys


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        print(json.dumps({"key": self.headers.get("Idempotency-Key"),
                          "signature": self.headers.get("X-Iotstream-Signature"),
                          "body": body.decode()}), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


main()
