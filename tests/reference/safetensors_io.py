"""Minimal safetensors reading and writing with numpy: an 8-byte little-endian header
length, a JSON header (name -> dtype, shape, data_offsets), then the raw data."""
import json

import numpy as np

_NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                 "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def bf16_bits_to_f32(bits):
    """uint16 bf16 bit patterns -> float32 (a bf16 is the top half of an f32)."""
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def read_safetensors(path):
    """-> {name: numpy array}; bf16 becomes float32 exactly. Raises ValueError naming the file."""
    with open(path, "rb") as fh:
        blob = fh.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    header_len = int.from_bytes(blob[:8], "little")
    if 8 + header_len > len(blob):
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file")
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data = memoryview(blob)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= start <= end <= len(data):
            raise ValueError(f"{path}: tensor {name}: data_offsets [{start}, {end}] outside "
                             f"the {len(data)}-byte data section")
        raw = data[start:end]
        if info["dtype"] == "BF16":
            arr = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        elif info["dtype"] in _NUMPY_DTYPES:
            arr = np.frombuffer(raw, dtype=_NUMPY_DTYPES[info["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {name}: dtype {info['dtype']} is not supported")
        if arr.size != count:
            raise ValueError(f"{path}: tensor {name}: shape {list(shape)} needs {count} values, "
                             f"data holds {arr.size}")
        tensors[name] = arr.reshape(shape)
    return tensors


_DTYPE_NAMES = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16",
                np.dtype("<i8"): "I64", np.dtype("<i4"): "I32"}


def write_safetensors(path, tensors):
    """{name: numpy array (f64/f32/f16/i64/i32)} -> one safetensors file."""
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPE_NAMES[arr.dtype.newbyteorder("<")],
                        "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(len(text).to_bytes(8, "little") + text)
        for data in blobs:
            fh.write(data)
