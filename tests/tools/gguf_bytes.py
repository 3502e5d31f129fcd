"""GGUF at the byte level: parse a file into plain Python values, edit them, write them back.

For malformed_gguf.py, which must write what no well-behaved writer (gguf.GGUFWriter) would:
duplicate keys, unknown type numbers, lying counts and offsets. `serialize(parse(b)) == b`
for files laid out as GGUFWriter lays them out (checked by malformed_gguf.py).

Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv times (string key,
u32 type, value); n_tensors times (string name, u32 n_dims, u64 ne[n_dims], u32 type,
u64 offset); zero padding to `alignment`; the data, each tensor at data start + offset.
A string is a u64 length and the bytes; an array is u32 element type, u64 count, elements.
"""
import struct

MAGIC = b"GGUF"
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
           10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


class KV:
    """One metadata entry; value is a Python scalar, str, or (for ARRAY) (elem_type, [items])."""

    def __init__(self, key, vtype, value):
        self.key, self.vtype, self.value = key, vtype, value


class TensorInfo:
    """dims in ggml order (ne[0] first); data: this tensor's bytes; offset: None to lay it out
    in order, or a forced value (relative to the data section)."""

    def __init__(self, name, dims, ggml_type, data, offset=None):
        self.name, self.dims, self.ggml_type, self.data, self.offset = name, dims, ggml_type, data, offset


class GGUFFile:
    def __init__(self, version, kvs, tensors, alignment=32):
        self.version, self.kvs, self.tensors, self.alignment = version, kvs, tensors, alignment

    def kv(self, key):
        return next(k for k in self.kvs if k.key == key)

    def tensor(self, name):
        return next(t for t in self.tensors if t.name == name)


class _Reader:
    def __init__(self, blob):
        self.blob, self.pos = blob, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.blob, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.blob[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def value(self, vtype):
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            etype, n = self.take("<I"), self.take("<Q")
            return (etype, [self.value(etype) for _ in range(n)])
        return self.take(SCALARS[vtype])


def parse(blob):
    r = _Reader(blob)
    if r.blob[:4] != MAGIC:
        raise ValueError("not a GGUF file")
    r.pos = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    kvs = []
    for _ in range(n_kv):
        key, vtype = r.string(), None
        vtype = r.take("<I")
        kvs.append(KV(key, vtype, r.value(vtype)))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        infos.append((name, dims, r.take("<I"), r.take("<Q")))
    alignment = next((k.value for k in kvs if k.key == "general.alignment"), 32)
    data_start = -(-r.pos // alignment) * alignment
    ends = sorted(o for *_, o in infos) + [len(blob) - data_start]
    tensors = []
    for name, dims, gtype, off in infos:
        end = min(e for e in ends if e > off)
        tensors.append(TensorInfo(name, dims, gtype, blob[data_start + off:data_start + end]))
    return GGUFFile(version, kvs, tensors, alignment)


def _string(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def _value(vtype, value):
    if vtype == STRING:
        return _string(value)
    if vtype == ARRAY:
        etype, items = value
        return struct.pack("<IQ", etype, len(items)) + b"".join(_value(etype, v) for v in items)
    return struct.pack(SCALARS[vtype], value)


def serialize(f, n_tensors=None, n_kv=None, magic=MAGIC):
    """-> bytes. n_tensors / n_kv: header counts to write instead of the true ones."""
    out = [magic, struct.pack("<IQQ", f.version,
                              len(f.tensors) if n_tensors is None else n_tensors,
                              len(f.kvs) if n_kv is None else n_kv)]
    for kv in f.kvs:
        out.append(_string(kv.key) + struct.pack("<I", kv.vtype) + _value(kv.vtype, kv.value))
    offsets, pos = [], 0
    for t in f.tensors:
        offsets.append(pos if t.offset is None else t.offset)
        pos += -(-len(t.data) // f.alignment) * f.alignment
    for t, off in zip(f.tensors, offsets):
        out.append(_string(t.name) + struct.pack("<I", len(t.dims))
                   + b"".join(struct.pack("<Q", d) for d in t.dims)
                   + struct.pack("<IQ", t.ggml_type, off))
    head = b"".join(out)
    head += b"\0" * (-len(head) % f.alignment)
    data = b"".join(t.data + b"\0" * (-len(t.data) % f.alignment) for t in f.tensors)
    return head + data
