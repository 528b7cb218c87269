#!/usr/bin/env python3
"""A SASL front for the secured-Kafka tests: accepts Kafka clients, runs SaslHandshake v1 and
SaslAuthenticate (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 with scramp) itself, then forwards bytes
unchanged to the broker. ApiVersions before authentication is forwarded to the broker, with
SaslHandshake and SaslAuthenticate added to its answer when the broker does not list them.

  sasl-front.py --listen PORT --broker HOST:PORT --mechanisms SCRAM-SHA-512,PLAIN --user alice:secret ...

Prints "ready PORT" once listening. Stdlib asyncio plus scramp (pinned by scripts/setup.sh).
"""
import argparse, asyncio, struct, sys
from scramp import ScramMechanism, ScramException

SASL_HANDSHAKE, SASL_AUTHENTICATE, API_VERSIONS = 17, 36, 18
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58


def uvarint(data, pos):
    shift = value = 0
    while True:
        b = data[pos]; pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def write_uvarint(value):
    out = bytearray()
    while True:
        b = value & 0x7F; value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b); return bytes(out)


async def read_frame(reader):
    size = struct.unpack(">i", await reader.readexactly(4))[0]
    return await reader.readexactly(size)


def parse_header(frame):
    key, version, correlation = struct.unpack(">hhi", frame[:8])
    client_len = struct.unpack(">h", frame[8:10])[0]
    pos = 10 + max(client_len, 0)
    flexible = (key == SASL_AUTHENTICATE and version >= 2) or (key == API_VERSIONS and version >= 3)
    if flexible:
        tags, pos = uvarint(frame, pos)
        for _ in range(tags):
            _, pos = uvarint(frame, pos)
            size, pos = uvarint(frame, pos)
            pos += size
    return key, version, correlation, frame[pos:]


def frame_of(correlation, body, header_tags=False):
    payload = struct.pack(">i", correlation) + (b"\x00" if header_tags else b"") + body
    return struct.pack(">i", len(payload)) + payload


def add_sasl_to_api_versions(response, version):
    """ApiVersions answer (after the correlation id): append keys 17 and 36 if the broker lacks them."""
    error = response[:2]
    pos = 2
    entries = []
    if version >= 3:
        count, pos = uvarint(response, pos); count -= 1
    else:
        count = struct.unpack(">i", response[2:6])[0]; pos = 6
    for _ in range(count):
        key, low, high = struct.unpack(">hhh", response[pos:pos + 6]); pos += 6
        tagged = b""
        if version >= 3:
            start = pos
            tags, pos = uvarint(response, pos)
            for _ in range(tags):
                _, pos = uvarint(response, pos)
                size, pos = uvarint(response, pos)
                pos += size
            tagged = response[start:pos]
        entries.append((key, low, high, tagged))
    keys = {e[0] for e in entries}
    empty_tags = b"\x00" if version >= 3 else b""
    if SASL_HANDSHAKE not in keys:
        entries.append((SASL_HANDSHAKE, 0, 1, empty_tags))
    if SASL_AUTHENTICATE not in keys:
        entries.append((SASL_AUTHENTICATE, 0, 2, empty_tags))
    out = bytearray(error)
    out += write_uvarint(len(entries) + 1) if version >= 3 else struct.pack(">i", len(entries))
    for key, low, high, tagged in entries:
        out += struct.pack(">hhh", key, low, high) + tagged
    out += response[pos:]
    return bytes(out)


class Front:
    def __init__(self, broker, mechanisms, users):
        self.broker_host, self.broker_port = broker.rsplit(":", 1)
        self.mechanisms = mechanisms
        self.users = users
        self.auth_info = {}
        for name in mechanisms:
            if name.startswith("SCRAM-"):
                m = ScramMechanism(name)
                self.auth_info[name] = {u: m.make_auth_info(p, iteration_count=4096) for u, p in users.items()}

    async def serve(self, client_reader, client_writer):
        try:
            broker_reader, broker_writer = await asyncio.open_connection(self.broker_host, int(self.broker_port))
        except OSError:
            client_writer.close(); return
        try:
            if await self.authenticate(client_reader, client_writer, broker_reader, broker_writer):
                await asyncio.gather(pump(client_reader, broker_writer), pump(broker_reader, client_writer))
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, struct.error):
            pass
        finally:
            for w in (client_writer, broker_writer):
                w.close()

    async def authenticate(self, client_reader, client_writer, broker_reader, broker_writer):
        mechanism = None
        scram = None
        while True:
            frame = await read_frame(client_reader)
            key, version, correlation, body = parse_header(frame)
            if key == API_VERSIONS:
                broker_writer.write(struct.pack(">i", len(frame)) + frame)
                await broker_writer.drain()
                answer = await read_frame(broker_reader)
                patched = answer[:4] + add_sasl_to_api_versions(answer[4:], version)
                client_writer.write(struct.pack(">i", len(patched)) + patched)
            elif key == SASL_HANDSHAKE and version >= 1:
                length = struct.unpack(">h", body[:2])[0]
                wanted = body[2:2 + length].decode()
                offered = b"".join(struct.pack(">h", len(m)) + m.encode() for m in self.mechanisms)
                code = 0 if wanted in self.mechanisms else UNSUPPORTED_SASL_MECHANISM
                client_writer.write(frame_of(correlation, struct.pack(">hi", code, len(self.mechanisms)) + offered))
                if code:
                    await client_writer.drain(); return False
                mechanism = wanted
                if mechanism.startswith("SCRAM-"):
                    infos = self.auth_info[mechanism]
                    def lookup(user, infos=infos):
                        if user not in infos:
                            raise ScramException("unknown user")
                        return infos[user]
                    scram = ScramMechanism(mechanism).make_server(lookup)
            elif key == SASL_AUTHENTICATE and mechanism is not None:
                flexible = version >= 2
                if flexible:
                    size, pos = uvarint(body, 0); token = body[pos:pos + size - 1]
                else:
                    size = struct.unpack(">i", body[:4])[0]; token = body[4:4 + size]
                done, reply, error = self.step(mechanism, scram, token)
                client_writer.write(frame_of(correlation, authenticate_body(version, error, reply), flexible))
                await client_writer.drain()
                if error:
                    return False
                if done:
                    return True
            else:
                return False  # anything else before authentication: close, as Kafka does
            await client_writer.drain()

    def step(self, mechanism, scram, token):
        """(done, reply bytes, error message or None) for one SaslAuthenticate round."""
        if mechanism == "PLAIN":
            parts = token.split(b"\x00")
            if len(parts) == 3 and self.users.get(parts[1].decode()) == parts[2].decode():
                return True, b"", None
            return True, b"", "Authentication failed: Invalid username or password"
        try:
            if scram.stage is None:
                scram.set_client_first(token.decode())
                return False, scram.get_server_first().encode(), None
            scram.set_client_final(token.decode())
            return True, scram.get_server_final().encode(), None
        except ScramException as e:
            return True, b"", f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism} ({e})"


def authenticate_body(version, error, reply):
    code = SASL_AUTHENTICATION_FAILED if error else 0
    if version >= 2:
        message = write_uvarint(len(error.encode()) + 1) + error.encode() if error else b"\x00"
        out = struct.pack(">h", code) + message + write_uvarint(len(reply) + 1) + reply
    else:
        message = struct.pack(">h", len(error.encode())) + error.encode() if error else struct.pack(">h", -1)
        out = struct.pack(">h", code) + message + struct.pack(">i", len(reply)) + reply
    if version >= 1:
        out += struct.pack(">q", 0)
    if version >= 2:
        out += b"\x00"
    return out


async def pump(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--mechanisms", default="PLAIN,SCRAM-SHA-256,SCRAM-SHA-512")
    parser.add_argument("--user", action="append", default=[], help="name:password")
    args = parser.parse_args()
    users = dict(u.split(":", 1) for u in args.user)
    front = Front(args.broker, args.mechanisms.split(","), users)
    server = await asyncio.start_server(front.serve, "127.0.0.1", args.listen)
    print(f"ready {args.listen}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
