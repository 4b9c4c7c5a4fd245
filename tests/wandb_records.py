"""Read an offline W&B run file (``run-*.wandb``) back from disk, as ``wandb sync`` would.

The file is a sequence of 32 KiB blocks holding length-prefixed, checksummed chunks (the LevelDB
log format) of ``wandb.proto.Record`` protobufs, after a 7-byte file header.
"""

import struct

BLOCK = 32768
HEADER = 7  # per-chunk header: crc32 (4), length (2), type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path):
    """Yield the parsed `wandb.proto.wandb_internal_pb2.Record` messages of a .wandb file."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = open(path, "rb").read()
    assert data[:4] == b":W&B", "not a W&B run file"
    pos, buf = 7, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if length == 0 and kind == 0:  # block padding
            pos += left
            continue
        payload = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            whole = payload
        elif kind == FIRST:
            buf = payload
            continue
        elif kind == MIDDLE:
            buf += payload
            continue
        else:
            whole, buf = buf + payload, b""
        rec = pb.Record()
        rec.ParseFromString(whole)
        yield rec


def history(path):
    """The logged history rows: a list of ``{key: json value string}``."""
    rows = []
    for rec in records(path):
        if rec.WhichOneof("record_type") == "history":
            rows.append({(i.key or "/".join(i.nested_key)): i.value_json for i in rec.history.item})
    return rows
