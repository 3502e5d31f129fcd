"""Quantizes float32 rows into ggml's block formats, for writing test GGUF files.

`quantize(x, type_name)` -> (bytes as a numpy uint8/float array, GGMLQuantizationType).
F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 come from the `gguf` package (llama.cpp's own
Python reference). It cannot quantize the K-quants or the IQ4 types, so Q2_K, Q3_K, Q4_K,
Q5_K, Q6_K, IQ4_NL and IQ4_XS are done here with plain min/max (or max-abs) rules: not
llama.cpp's optimised search, but valid blocks whose values resemble the originals. The test
reference dequantizes the very same bytes, so quality only has to be sane, not optimal. Every
packing of ours is checked against `gguf.quants.dequantize` by tests/gguf/test_gguf_roundtrip.py.

Block layouts (QK_K = 256 values per super-block, little-endian; e = 128h + 32g + 16t + l with
h < 2, g < 4, t < 2, l < 16 for the 2-bit-plane types):
  Q2_K:  u8 scales[16] (low nibble: 4-bit scale, high: 4-bit min, sub-blocks of 16), u8 qs[64],
         f16 d, f16 dmin. q = (qs[32h + 16t + l] >> 2g) & 3; value = d*sc*q - dmin*m.
  Q3_K:  u8 hmask[32], u8 qs[64], u8 scales[12], f16 d. Low 2 bits as Q2_K's q, high bit =
         bit 4h + g of hmask[16t + l]; q = low - (high ? 0 : 4) in -4..3. Scale i (sub-block
         of 16) is 6 bits: low 4 the nibble of scales[i % 8] (high nibble when i >= 8), top 2
         bits 2(i / 4) of scales[8 + i % 4]; value = d * (scale - 32) * q.
  Q4_K:  f16 d, f16 dmin, 12 bytes of 6-bit (scale, min) for 8 sub-blocks of 32, 128 bytes of
         nibbles. Value = d * sc[j] * q - dmin * m[j], q in 0..15.
  Q5_K:  as Q4_K plus 32 bytes of high bits before the nibbles; q in 0..31.
  Q6_K:  128 bytes low nibbles, 64 bytes of 2-bit highs, 16 int8 scales (sub-blocks of 16),
         f16 d. Value = d * sc[j] * (q - 32), q in 0..63.
  IQ4_NL (32 values): f16 d, qs[16]; value j < 16 = d * K[qs[j] & 15], j + 16: K[qs[j] >> 4],
         K = IQ4_VALUES, a fixed non-uniform table.
  IQ4_XS: f16 d, u16 scales_h, u8 scales_l[4], u8 qs[128]: 8 sub-blocks of 32, each as one
         IQ4_NL block's nibbles (qs[16ib..]) times d * (ls - 32), ls 6 bits: nibble ib % 2 of
         scales_l[ib / 2] | bits 2ib..2ib+1 of scales_h << 4.
"""
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

QK_K = 256
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K",
         "Q5_0", "Q5_1", "Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS"]
IQ4_VALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113],
                      dtype=np.float32)


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


def _affine_subblocks(blocks, n_levels, sc_max=63):
    """blocks [n, S, L] -> (d, dmin as f16 [n], sc, m as ints 0..sc_max [n, S], q [n, S, L])
    for value = d*sc*q - dmin*m with q in 0..n_levels-1: each sub-block maps its
    [min(0, lo), hi] range onto the levels, and the S scales/mins share one f16 factor."""
    lo = np.minimum(blocks.min(axis=2), 0.0)
    hi = np.maximum(blocks.max(axis=2), lo)
    step = (hi - lo) / (n_levels - 1)                  # [n, S]
    offset = -lo                                       # >= 0
    d = _f16(step.max(axis=1) / sc_max)                # [n]
    dmin = _f16(offset.max(axis=1) / sc_max)
    d32, dmin32 = d.astype(np.float32), dmin.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32[:, None] > 0, np.rint(step / d32[:, None]), 0).clip(0, sc_max)
        m = np.where(dmin32[:, None] > 0, np.rint(offset / dmin32[:, None]), 0).clip(0, sc_max)
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


def _signed_subblocks(blocks, extreme, sc_lo, sc_hi):
    """blocks [n, S, L] -> (d as f16 [n], integer scales sc_lo..sc_hi [n, S]) for
    value = d * sc * v, where v ranges over levels whose extreme (the end of larger magnitude,
    negative: -4 for Q3_K, -127 for the IQ4 table) is `extreme`: each sub-block's scale is
    signed so that its largest-magnitude element lands on that extreme (as Q5_0 does), and
    the S scales share one f16 factor."""
    idx = np.abs(blocks).argmax(axis=2)[..., None]
    s = np.take_along_axis(blocks, idx, axis=2)[..., 0] / extreme   # [n, S], signed
    d = _f16(np.abs(s).max(axis=1) / min(-sc_lo, sc_hi))   # either sign fits
    d32 = d.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32[:, None] > 0, np.rint(s / d32[:, None]), 0).clip(sc_lo, sc_hi)
    return d, sc.astype(np.int32)


def _nearest_iq4(blocks, step):
    """Indices into IQ4_VALUES of blocks [..., L] divided by step [..., 1] (0 where step is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(step != 0, blocks / step, 0)
    return np.abs(v[..., None] - IQ4_VALUES).argmin(axis=-1).astype(np.uint8)


def _planes_2bit(q):
    """q [n, 256] (low 2 bits used) -> [n, 64]: element 128h + 32g + 16t + l at bits 2g of
    byte 32h + 16t + l."""
    q = (q & 3).astype(np.uint8).reshape(-1, 2, 4, 2, 16)          # [n, h, g, t, l]
    out = np.zeros((q.shape[0], 2, 2, 16), dtype=np.uint8)
    for g in range(4):
        out |= q[:, :, g] << (2 * g)
    return out.reshape(-1, 64)


def quantize_q2_k(x):
    blocks = x.reshape(-1, 16, 16).astype(np.float32)  # 16 sub-blocks of 16
    d, dmin, sc, m, q = _affine_subblocks(blocks, 4, sc_max=15)
    n = blocks.shape[0]
    scales = (sc.astype(np.uint8) | (m.astype(np.uint8) << 4))
    return np.concatenate([scales, _planes_2bit(q.reshape(n, 256)),
                           d.reshape(n, 1).view(np.uint8), dmin.reshape(n, 1).view(np.uint8)],
                          axis=1)


def quantize_q3_k(x):
    blocks = x.reshape(-1, 16, 16).astype(np.float32)
    n = blocks.shape[0]
    d, sc = _signed_subblocks(blocks, -4.0, -32, 31)
    eff = d.astype(np.float32)[:, None, None] * sc[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(eff != 0, np.rint(blocks / eff), 0).clip(-4, 3)
    u = (q + 4).astype(np.uint8).reshape(n, 2, 4, 2, 16)              # 0..7: bit 2 = the high bit
    hmask = np.zeros((n, 2, 16), dtype=np.uint8)                     # [n, t, l]
    for h in range(2):
        for g in range(4):
            hmask |= ((u[:, h, g] >> 2) & 1) << (4 * h + g)
    s6 = (sc + 32).astype(np.uint8)                                  # [n, 16], 0..63
    scales = np.zeros((n, 12), dtype=np.uint8)
    scales[:, 0:8] = (s6[:, 0:8] & 15) | ((s6[:, 8:16] & 15) << 4)
    for k in range(4):                                               # scale i's top bits
        scales[:, 8:12] |= (s6[:, 4 * k:4 * k + 4] >> 4) << (2 * k)  # at 2(i / 4) of 8 + i % 4
    return np.concatenate([hmask.reshape(n, 32), _planes_2bit(u.reshape(n, 256)), scales,
                           d.reshape(n, 1).view(np.uint8)], axis=1)


def quantize_iq4_nl(x):
    blocks = x.reshape(-1, 32).astype(np.float32)
    n = blocks.shape[0]
    # d signed, so the largest-magnitude value lands on the table's -127 end
    peak = np.take_along_axis(blocks, np.abs(blocks).argmax(axis=1)[:, None], axis=1)
    d = _f16(peak[:, 0] / IQ4_VALUES[0])
    q = _nearest_iq4(blocks, d.astype(np.float32)[:, None])          # [n, 32]
    return np.concatenate([d.reshape(n, 1).view(np.uint8), q[:, :16] | (q[:, 16:] << 4)], axis=1)


def quantize_iq4_xs(x):
    blocks = x.reshape(-1, 8, 32).astype(np.float32)
    n = blocks.shape[0]
    d, sc = _signed_subblocks(blocks, IQ4_VALUES[0], -32, 31)
    q = _nearest_iq4(blocks, d.astype(np.float32)[:, None, None] * sc[:, :, None])  # [n, 8, 32]
    ls = (sc + 32).astype(np.uint16)                                 # [n, 8], 0..63
    scales_h = np.zeros(n, dtype=np.uint16)
    for ib in range(8):
        scales_h |= (ls[:, ib] >> 4) << (2 * ib)
    scales_l = ((ls[:, 0::2] & 15) | ((ls[:, 1::2] & 15) << 4)).astype(np.uint8)
    qs = (q[:, :, :16] | (q[:, :, 16:] << 4)).reshape(n, 128)
    return np.concatenate([d.reshape(n, 1).view(np.uint8), scales_h.reshape(n, 1).view(np.uint8),
                           scales_l, qs], axis=1)


_OWN = {"Q4_K": quantize_q4_k, "Q5_K": quantize_q5_k, "Q6_K": quantize_q6_k,
        "Q2_K": quantize_q2_k, "Q3_K": quantize_q3_k, "IQ4_NL": quantize_iq4_nl,
        "IQ4_XS": quantize_iq4_xs}


def quantize(x, type_name):
    """x float32 [..., n] (n a multiple of the block) -> (data, GGMLQuantizationType), data
    shaped [..., bytes per row] (uint8) or [..., n] for F32/F16, as GGUFWriter wants it."""
    qtype = T[type_name]
    x = np.ascontiguousarray(x, dtype=np.float32)
    bs = block_size(type_name)
    if x.shape[-1] % bs:
        raise ValueError(f"{type_name}: row length {x.shape[-1]} is not a multiple of {bs}")
    if type_name in _OWN:
        blocks = x.reshape(-1, bs)
        # a slice of blocks at a time: the quantizers' temporaries are several times the input
        # (IQ4's nearest level compares every value with all 16: a 7B-sized matrix at once
        # would take tens of GB)
        step = max(1, (1 << 20) // bs)
        packed = np.concatenate([_OWN[type_name](blocks[i:i + step]) for i in range(0, len(blocks), step)])
        return packed.reshape(*x.shape[:-1], -1), qtype
    return quants.quantize(x, qtype), qtype


def dequantize(data, qtype):
    """The inverse, through gguf.quants (llama.cpp's reference), as float64."""
    return quants.dequantize(data, qtype).astype(np.float64)
