"""Quantizes float32 rows into ggml's block formats, for writing test GGUF files.

`quantize(x, type_name)` -> (bytes as a numpy uint8/float array, GGMLQuantizationType).
F32, F16, BF16, Q8_0, Q4_0, Q4_1 come from the `gguf` package (llama.cpp's own Python
reference). It cannot quantize the K-quants, so Q4_K, Q5_K and Q6_K are done here with a
plain min/max rule: not llama.cpp's optimised search, but valid blocks whose values resemble
the originals. The test reference dequantizes the very same bytes, so quality only has to be
sane, not optimal. Every K-quant packing is checked against `gguf.quants.dequantize` by
tests/gguf/test_gguf_roundtrip.py.

Block layouts (QK_K = 256 values per super-block, little-endian):
  Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit (scale, min) for 8 sub-blocks of 32, 128 bytes of
        nibbles. Value = d * sc[j] * q - dmin * m[j], q in 0..15.
  Q5_K: as Q4_K plus 32 bytes of high bits before the nibbles; q in 0..31.
  Q6_K: 128 bytes low nibbles, 64 bytes of 2-bit highs, 16 int8 scales (sub-blocks of 16),
        f16 d. Value = d * sc[j] * (q - 32), q in 0..63.
"""
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

QK_K = 256
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"]


def block_size(type_name):
    from gguf.constants import GGML_QUANT_SIZES
    return GGML_QUANT_SIZES[T[type_name]][0]


def _f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def _pack_scale_min_k4(sc, m):
    """8 six-bit scales and mins per block [n, 8] -> the 12 packed bytes [n, 12] that
    gguf.quants.Q4_K.get_scale_min unpacks: bytes 0-3 low 6 bits of sc[0:4] (top 2 bits:
    sc[4:8] >> 4), bytes 4-7 likewise for m, bytes 8-11 the low nibbles of sc[4:8] | m[4:8]."""
    sc = sc.astype(np.uint8)
    m = m.astype(np.uint8)
    out = np.empty((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
    return out


def _affine_subblocks(blocks, n_levels):
    """blocks [n, 8, 32] -> (d, dmin as f16 [n], sc, m as ints 0..63 [n, 8], q [n, 8, 32])
    for value = d*sc*q - dmin*m with q in 0..n_levels-1: each sub-block maps its
    [min(0, lo), hi] range onto the levels, and the 8 scales/mins share one f16 factor."""
    lo = np.minimum(blocks.min(axis=2), 0.0)
    hi = np.maximum(blocks.max(axis=2), lo)
    step = (hi - lo) / (n_levels - 1)                  # [n, 8]
    offset = -lo                                       # >= 0
    d = _f16(step.max(axis=1) / 63.0)                  # [n]
    dmin = _f16(offset.max(axis=1) / 63.0)
    d32, dmin32 = d.astype(np.float32), dmin.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32[:, None] > 0, np.rint(step / d32[:, None]), 0).clip(0, 63)
        m = np.where(dmin32[:, None] > 0, np.rint(offset / dmin32[:, None]), 0).clip(0, 63)
        eff_step = d32[:, None] * sc
        eff_min = dmin32[:, None] * m
        q = np.where(eff_step[:, :, None] > 0,
                     np.rint((blocks + eff_min[:, :, None]) / eff_step[:, :, None]), 0)
    return d, dmin, sc, m, q.clip(0, n_levels - 1).astype(np.uint8)


def _nibbles_k(q):
    """q [n, 8, 32] (low 4 bits used) -> [n, 128]: byte 32c + l holds sub-block 2c at l in
    its low nibble and sub-block 2c+1 in its high nibble."""
    q = q & 15
    return (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(q.shape[0], 128)


def quantize_q4_k(x):
    blocks = x.reshape(-1, 8, 32).astype(np.float32)
    d, dmin, sc, m, q = _affine_subblocks(blocks, 16)
    n = blocks.shape[0]
    return np.concatenate([d.reshape(n, 1).view(np.uint8), dmin.reshape(n, 1).view(np.uint8),
                           _pack_scale_min_k4(sc, m), _nibbles_k(q)], axis=1)


def quantize_q5_k(x):
    blocks = x.reshape(-1, 8, 32).astype(np.float32)
    d, dmin, sc, m, q = _affine_subblocks(blocks, 32)
    n = blocks.shape[0]
    high = (q >> 4) & 1                                 # [n, 8, 32]
    qh = np.zeros((n, 32), dtype=np.uint8)
    for j in range(8):                                  # bit j of qh[l]: sub-block j's high bit
        qh |= (high[:, j, :] << j).astype(np.uint8)
    return np.concatenate([d.reshape(n, 1).view(np.uint8), dmin.reshape(n, 1).view(np.uint8),
                           _pack_scale_min_k4(sc, m), qh, _nibbles_k(q)], axis=1)


def quantize_q6_k(x):
    blocks = x.reshape(-1, 16, 16).astype(np.float32)  # 16 sub-blocks of 16
    n = blocks.shape[0]
    step = np.abs(blocks).max(axis=2) / 31.0            # [n, 16], q - 32 in -31..31
    d = _f16(step.max(axis=1) / 127.0)
    d32 = d.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32[:, None] > 0, np.rint(step / d32[:, None]), 0).clip(-128, 127)
        eff = d32[:, None] * sc
        q = np.where(eff[:, :, None] > 0, np.rint(blocks / eff[:, :, None]), 0)
    q = (q.clip(-32, 31) + 32).astype(np.uint8).reshape(n, 8, 32)  # rows of 32 values
    # Row r = 4c + k (c = half of the block, k = 0..3): low nibble in ql[64c + 32(k%2) + l],
    # in its high nibble when k >= 2; its top 2 bits in qh[32c + l] at bit 2k.
    ql = np.zeros((n, 2, 64), dtype=np.uint8)
    qh = np.zeros((n, 2, 32), dtype=np.uint8)
    for r in range(8):
        c, k = divmod(r, 4)
        low = q[:, r, :] & 15
        pos = slice(32 * (k % 2), 32 * (k % 2) + 32)
        ql[:, c, pos] |= low if k < 2 else (low << 4)
        qh[:, c, :] |= ((q[:, r, :] >> 4) << (2 * k)).astype(np.uint8)
    return np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64),
                           sc.astype(np.int8).view(np.uint8), d.reshape(n, 1).view(np.uint8)],
                          axis=1)


_OWN = {"Q4_K": quantize_q4_k, "Q5_K": quantize_q5_k, "Q6_K": quantize_q6_k}


def quantize(x, type_name):
    """x float32 [..., n] (n a multiple of the block) -> (data, GGMLQuantizationType), data
    shaped [..., bytes per row] (uint8) or [..., n] for F32/F16, as GGUFWriter wants it."""
    qtype = T[type_name]
    x = np.ascontiguousarray(x, dtype=np.float32)
    bs = block_size(type_name)
    if x.shape[-1] % bs:
        raise ValueError(f"{type_name}: row length {x.shape[-1]} is not a multiple of {bs}")
    if type_name in _OWN:
        rows = x.reshape(-1, x.shape[-1])
        packed = _OWN[type_name](rows.reshape(-1, QK_K))
        return packed.reshape(*x.shape[:-1], -1), qtype
    return quants.quantize(x, qtype), qtype


def dequantize(data, qtype):
    """The inverse, through gguf.quants (llama.cpp's reference), as float64."""
    return quants.dequantize(data, qtype).astype(np.float64)
