"""Loop-based NumPy references for the conv-family ops: test oracles, written from the definitions.

Deliberately slow and independent of ``minigen.functional.conv_utils``: plain
loops over every output (or input) pixel, explicit bounds checks instead of
padding, no im2col. Float64 in, float64 out.
"""
import numpy as np


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """y[n, o, p, q] = b[o] + Σ_{c,i,j} w[o, c, i, j] · x[n, c, p·sh + i·dh − ph, q·sw + j·dw − pw]."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    y = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            for p in range(OH):
                for q in range(OW):
                    acc = 0.0 if b is None else b[o]
                    for i in range(KH):
                        for j in range(KW):
                            h, v = p * sh + i * dh - ph, q * sw + j * dw - pw
                            if 0 <= h < H and 0 <= v < W:
                                acc += np.dot(w[o, :, i, j], x[n, :, h, v])
                    y[n, o, p, q] = acc
    return y


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Scatter: y[n, o, h·sh + i·dh − ph, v·sw + j·dw − pw] += x[n, c, h, v] · w[c, o, i, j]."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    N, C, H, W = x.shape
    _, O, KH, KW = w.shape
    OH = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1
    OW = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1
    y = np.zeros((N, O, OH, OW))
    for n in range(N):
        for h in range(H):
            for v in range(W):
                for i in range(KH):
                    for j in range(KW):
                        p, q = h * sh + i * dh - ph, v * sw + j * dw - pw
                        if 0 <= p < OH and 0 <= q < OW:
                            y[n, :, p, q] += x[n, :, h, v] @ w[:, :, i, j]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def _pool(x, kernel, stride, padding, reduce, fill):
    (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
    sh, sw = _pair(kernel if stride is None else stride)
    N, C, H, W = x.shape
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for p in range(OH):
                for q in range(OW):
                    vals = []
                    for i in range(kh):
                        for j in range(kw):
                            h, v = p * sh + i - ph, q * sw + j - pw
                            vals.append(x[n, c, h, v] if 0 <= h < H and 0 <= v < W else fill)
                    y[n, c, p, q] = reduce(vals)
    return y


def max_pool2d(x, kernel, stride=None, padding=0):
    return _pool(x, kernel, stride, padding, max, -np.inf)


def avg_pool2d(x, kernel, stride=None, padding=0):
    """count_include_pad: the padded zeros count in the divisor."""
    return _pool(x, kernel, stride, padding, lambda v: sum(v) / len(v), 0.0)


def upsample_nearest2d(x, scale):
    sh, sw = _pair(scale)
    N, C, H, W = x.shape
    y = np.zeros((N, C, H * sh, W * sw))
    for p in range(H * sh):
        for q in range(W * sw):
            y[:, :, p, q] = x[:, :, p // sh, q // sw]
    return y


def normalize(x, axes, gamma=None, beta=None, eps=1e-5):
    """(x − mean)/√(var + eps) over ``axes`` (biased variance), then γ, β broadcast as given."""
    m = x.mean(axis=axes, keepdims=True)
    v = ((x - m) ** 2).mean(axis=axes, keepdims=True)
    y = (x - m) / np.sqrt(v + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


def embedding(indices, w):
    out = np.zeros(indices.shape + (w.shape[1],))
    for k in np.ndindex(*indices.shape):
        out[k] = w[indices[k]]
    return out
