#!/usr/bin/env python3
"""SASL/PLAIN for the test broker, which has no PLAIN of its own (Tansu 0.6.0 is built with SCRAM
only): listens on PORT, answers the Kafka protocol's SaslHandshake (versions 0-1) and
SaslAuthenticate (0-2) itself, checking USER and PASSWORD, and passes every other request, and
every request after a successful authentication, to the broker on UPSTREAM unchanged. A client
that sends anything else before authenticating, or a wrong password, is answered with an error
and disconnected. Prints `ready` once it listens.

    sasl_plain.py PORT UPSTREAM USER PASSWORD
"""
import socket
import struct
import sys
import threading

HANDSHAKE, AUTHENTICATE, API_VERSIONS = 17, 36, 18
ILLEGAL_SASL_STATE, AUTHENTICATION_FAILED = 34, 58


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_frame(sock):
    (size,) = struct.unpack(">i", read_exact(sock, 4))
    return read_exact(sock, size)


def send_frame(sock, body):
    sock.sendall(struct.pack(">i", len(body)) + body)


def uvarint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def request_body(frame):
    """(api key, version, correlation id, body) of a request; flexible versions' header tags skipped."""
    key, version, correlation = struct.unpack(">hhi", frame[:8])
    (client_len,) = struct.unpack(">h", frame[8:10])
    at = 10 + max(client_len, 0)
    if key == AUTHENTICATE and version >= 2:
        tags, at = uvarint(frame, at)
        for _ in range(tags):
            _, at = uvarint(frame, at)
            size, at = uvarint(frame, at)
            at += size
    return key, version, correlation, frame[at:]


def plain_credentials(key, version, body):
    if version >= 2:
        size, at = uvarint(body, 0)
        token = body[at:at + size - 1]
    else:
        (size,) = struct.unpack(">i", body[:4])
        token = body[4:4 + size]
    parts = token.split(b"\0")
    return (parts[1].decode(), parts[2].decode()) if len(parts) == 3 else (None, None)


def authenticate_answer(version, correlation, error, message):
    if version >= 2:
        text = message.encode()
        return (struct.pack(">i", correlation) + b"\0" + struct.pack(">h", error)
                + bytes([len(text) + 1]) + text + b"\x01" + struct.pack(">q", 0) + b"\0")
    text = message.encode()
    answer = struct.pack(">ih", correlation, error) + struct.pack(">h", len(text)) + text + struct.pack(">i", 0)
    return answer + (struct.pack(">q", 0) if version >= 1 else b"")


def handshake_answer(correlation, mechanism):
    error = 0 if mechanism == b"PLAIN" else 33  # UNSUPPORTED_SASL_MECHANISM
    return struct.pack(">ihi", correlation, error, 1) + struct.pack(">h", 5) + b"PLAIN"


def serve(client, upstream_port, user, password):
    upstream = socket.create_connection(("127.0.0.1", upstream_port))
    try:
        while True:
            frame = read_frame(client)
            key, version, correlation, body = request_body(frame)
            if key == HANDSHAKE:
                (size,) = struct.unpack(">h", body[:2])
                send_frame(client, handshake_answer(correlation, body[2:2 + size]))
            elif key == AUTHENTICATE:
                if plain_credentials(key, version, body) != (user, password):
                    send_frame(client, authenticate_answer(version, correlation, AUTHENTICATION_FAILED,
                                                           "bad user name or password"))
                    return
                send_frame(client, authenticate_answer(version, correlation, 0, ""))
                break
            elif key == API_VERSIONS:
                send_frame(upstream, frame)
                send_frame(client, read_frame(upstream))
            else:
                return
        relay(client, upstream)
    except (ConnectionError, OSError, struct.error, IndexError):
        pass
    finally:
        client.close()
        upstream.close()


def relay(client, upstream):
    def pump(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()


def main():
    port, upstream, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    listener = socket.create_server(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, upstream, user, password), daemon=True).start()


main()
