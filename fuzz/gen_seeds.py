#!/usr/bin/env python3
"""Writes the seed corpus of the session_frames fuzz target (fuzz/corpus/session_frames/).

Each seed is a sequence of frames in the target's input format: a little-endian u16 header
(bit 15 = send as text, bits 0-14 = length) followed by the frame. Frames are PubSubReq
messages (proto/pubsub.proto) encoded by hand, so no protobuf tooling is needed.
Topic names fit the target's route ACL: read `[a-z]{1,3}` or `t.*`, write `[a-z]{1,3}` or `tw.*`,
groups `g.*`.
"""
import os
import struct
import sys


def varint(n):
    n &= (1 << 64) - 1  # negative int32/int64 are ten-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def vfield(num, value):
    return varint(num << 3) + varint(value)


def lfield(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def packed(num, values):
    return lfield(num, b"".join(varint(v) for v in values))


def req(seq, cmd_num, body=b""):
    return vfield(1, seq) + lfield(cmd_num, body)


EMPTY, PING, FETCH, LIST_OFFSET, PRODUCE, SUBSCRIBE, UNSUBSCRIBE, COMMIT, METADATA, REFRESH = range(31, 41)
LATEST, EARLIEST, LAST, OFFSET, TIMESTAMP, TIME_DELTA = range(6)


def ping(seq, state=b"hi"):
    return req(seq, PING, lfield(1, state))


def fetch(seq, topic, partition=0, offset=0, max_messages=0, max_bytes=0, max_wait_ms=0):
    body = lfield(1, topic) + vfield(2, partition) + vfield(3, offset)
    if max_messages:
        body += vfield(4, max_messages)
    if max_bytes:
        body += vfield(5, max_bytes)
    if max_wait_ms:
        body += vfield(6, max_wait_ms)
    return req(seq, FETCH, body)


def list_offset(seq, topic, partition=0, timestamp=-1):
    return req(seq, LIST_OFFSET, lfield(1, topic) + vfield(2, partition) + vfield(3, timestamp))


def header(key, value):
    return lfield(1, key) + lfield(2, value)


def produce(seq, topic, value=b"v", key=b"", partition=None, headers=(), timestamp=0):
    body = lfield(1, topic)
    if partition is not None:
        body += vfield(2, partition)
    if key:
        body += lfield(3, key)
    body += lfield(4, value)
    for k, v in headers:
        body += lfield(5, header(k, v))
    if timestamp:
        body += vfield(6, timestamp)
    return req(seq, PRODUCE, body)


def subscribe(seq, topic="", pattern="", partitions=(), start=LATEST, start_value=0, group="",
              match_headers=(), max_in_flight=0):
    body = b""
    if topic:
        body += lfield(1, topic)
    if pattern:
        body += lfield(2, pattern)
    if partitions:
        body += packed(3, partitions)
    if start:
        body += vfield(4, start)
    if start_value:
        body += vfield(5, start_value)
    if group:
        body += lfield(6, group)
    for k, v in match_headers:
        body += lfield(7, header(k, v))
    if max_in_flight:
        body += vfield(8, max_in_flight)
    return req(seq, SUBSCRIBE, body)


def unsubscribe(seq, sub_id):
    return req(seq, UNSUBSCRIBE, vfield(1, sub_id))


def commit(seq, sub_id, offsets):
    body = vfield(1, sub_id)
    for topic, partition, offset in offsets:
        body += lfield(2, lfield(1, topic) + vfield(2, partition) + vfield(3, offset))
    return req(seq, COMMIT, body)


def metadata(seq, topic):
    return req(seq, METADATA, lfield(1, topic))


def refresh(seq, token):
    return req(seq, REFRESH, lfield(1, token))


def empty(seq):
    return req(seq, EMPTY)


def frames(*fs):
    out = bytearray()
    for f in fs:
        text = False
        if isinstance(f, tuple):  # ("text", data)
            text, f = True, f[1]
        assert len(f) < 0x8000
        out += struct.pack("<H", len(f) | (0x8000 if text else 0)) + f
    return bytes(out)


SEEDS = {
    "ping": frames(ping(1)),
    "empty": frames(empty(2)),
    "no_command": frames(vfield(1, 3)),
    "zero_length": frames(b""),
    "undecodable": frames(b"\xff\xff\xff\xff"),
    "text_frame": frames(("text", b"hello")),
    "list_offset_end": frames(list_offset(4, "abc", 0, -1)),
    "list_offset_earliest": frames(list_offset(5, "tw1", 1, -2)),
    "list_offset_timestamp": frames(list_offset(6, "tw1", 0, 1_700_000_000_000)),
    "list_offset_bad_timestamp": frames(list_offset(7, "abc", 0, -3)),
    "metadata": frames(metadata(8, "abc")),
    "metadata_forbidden": frames(metadata(9, "zzzz")),
    "produce": frames(produce(10, "abc", b"hello", key=b"k1")),
    "produce_partition_headers": frames(
        produce(11, "tw1", b"x" * 40, partition=2, headers=[("h", b"1")], timestamp=1000)),
    "produce_forbidden": frames(produce(12, "tr", b"no")),
    "produce_then_fetch": frames(
        produce(13, "abc", b"a"), produce(14, "abc", b"b"),
        fetch(15, "abc", 0, 0, max_messages=10, max_bytes=1024)),
    "fetch_long_poll": frames(fetch(16, "tw2", 0, 0, max_wait_ms=50)),
    "fetch_out_of_range": frames(fetch(17, "abc", 0, 1_000_000)),
    "subscribe_earliest": frames(produce(18, "abc", b"s"), subscribe(19, topic="abc", start=EARLIEST)),
    "subscribe_pattern": frames(subscribe(20, pattern="t.*", start=LAST), produce(21, "tw3", b"p")),
    "subscribe_group_commit": frames(
        subscribe(22, topic="tw1", group="g1", start=OFFSET, start_value=0, max_in_flight=2),
        produce(23, "tw1", b"c", partition=0),
        commit(24, 1, [("tw1", 0, 1)]),
        unsubscribe(25, 1)),
    "subscribe_partitions_headers": frames(
        subscribe(26, topic="abc", partitions=[0, 2], start=TIME_DELTA, start_value=60_000,
                  match_headers=[("h", b"1")]),
        produce(27, "abc", b"m", partition=0, headers=[("h", b"1")])),
    "subscribe_timestamp": frames(subscribe(28, topic="tw1", start=TIMESTAMP, start_value=1)),
    "subscribe_limit": frames(*(subscribe(30 + i, topic="abc") for i in range(5))),
    "unsubscribe_unknown": frames(unsubscribe(40, 99)),
    "commit_unknown": frames(commit(41, 7, [("abc", 0, 0)])),
    "rate_limit_burst": frames(*(ping(100 + i, b"") for i in range(48))),
    "oversized_frame": frames(ping(50), produce(51, "abc", b"z" * 3000), ping(52)),
    "mixed_pipeline": frames(
        ping(60), metadata(61, "tw1"), list_offset(62, "tw1", 0, -1), b"\x0a",
        fetch(63, "tw1", 0, 0), empty(-1), subscribe(64, topic="tw1"), unsubscribe(65, 1)),
    "refresh": frames(refresh(80, "eyJhbGciOiJIUzI1NiJ9.e30.x"), ping(81)),
    "negative_fields": frames(
        fetch(70, "abc", -1, -5, max_messages=-1, max_bytes=-1, max_wait_ms=-1),
        produce(71, "abc", b"n", partition=-1), subscribe(72, topic="abc", partitions=[-1])),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "session_frames")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
