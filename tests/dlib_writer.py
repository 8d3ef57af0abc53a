"""Writes networks in dlib's serialization (serialize.h, dnn/core.h, dnn/layers.h), written
from dlib's C++ serializers rather than from fer-da's reader, for the reader's tests."""

from __future__ import annotations

import numpy as np


def pack_int(v: int) -> bytes:
    neg, v = (0x80, -v) if v < 0 else (0, v)
    body = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "little")
    return bytes([len(body) | neg]) + body


def pack_str(s: str) -> bytes:
    return pack_int(len(s)) + s.encode()


def pack_float(x: float) -> bytes:
    n, d = float(x).as_integer_ratio()  # float_details: mantissa * 2^exponent
    return pack_int(n) + pack_int(-(d.bit_length() - 1))


def pack_bool(b: bool) -> bytes:
    return b"1" if b else b"0"


def pack_tensor(a: np.ndarray | None, dims: tuple[int, int, int, int] | None = None) -> bytes:
    a = np.zeros(0, np.float32) if a is None else np.asarray(a, np.float32).reshape(-1)
    dims = dims or ((a.size, 1, 1, 1) if a.size else (0, 0, 0, 0))
    return pack_int(2) + b"".join(pack_int(d) for d in dims) + a.astype("<f4").tobytes()


def pack_alias(dims: tuple[int, int, int, int]) -> bytes:
    return pack_int(1) + b"".join(pack_int(d) for d in dims)


def con(weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> bytes:
    f, k, nr, nc = weight.shape
    params = np.concatenate([weight.reshape(-1), bias.reshape(-1)])
    return (pack_str("con_4") + pack_tensor(params, (params.size, 1, 1, 1)) + pack_int(f)
            + pack_int(nr) + pack_int(nc) + pack_int(stride) + pack_int(stride)
            + pack_int(padding) + pack_int(padding) + pack_alias((f, k, nr, nc))
            + pack_alias((1, f, 1, 1)) + b"".join(pack_float(v) for v in (1, 1, 1, 0)))


def affine(gamma: np.ndarray, beta: np.ndarray) -> bytes:
    c = gamma.size
    return (pack_str("affine_") + pack_tensor(np.concatenate([gamma, beta])) +
            pack_alias((1, c, 1, 1)) + pack_alias((1, c, 1, 1)) + pack_int(0))


def pool(kind: str, nr: int, stride: int, padding: int = 0) -> bytes:
    return (pack_str(f"{kind}_2") + pack_int(nr) + pack_int(nr) + pack_int(stride)
            + pack_int(stride) + pack_int(padding) + pack_int(padding))


def fc(weight_in_out: np.ndarray) -> bytes:
    n_in, n_out = weight_in_out.shape
    return (pack_str("fc_2") + pack_int(n_out) + pack_int(n_in)
            + pack_tensor(weight_in_out, (n_in, n_out, 1, 1))
            + pack_alias((n_in, n_out, 1, 1)) + pack_alias((0, 0, 0, 0)) + pack_int(1)
            + b"".join(pack_float(v) for v in (1, 1, 1, 0)))


RELU, ADD_PREV = pack_str("relu_"), pack_str("add_prev_")
INPUT = (pack_str("input_rgb_image_sized") + pack_float(122.782) + pack_float(117.001)
         + pack_float(104.298) + pack_int(150) + pack_int(150))
LOSS = pack_str("loss_metric_2") + pack_float(0.04) + pack_float(0.6)
STATE = pack_bool(True) + pack_bool(False) + pack_bool(False) + pack_tensor(None) * 3


def network(layers: list[bytes], wrappers: dict[int, int] | None = None) -> bytes:
    """A whole file: ``layers`` from the input up (each a layer record); ``wrappers``: how
    many tag/skip layers sit above layer i (as dlib nests them)."""
    wrappers = wrappers or {}
    out = pack_int(1) + LOSS
    for i in range(len(layers) - 1, 0, -1):
        out += pack_int(1) * wrappers.get(i, 0) + pack_int(2)
    out += pack_int(1) * wrappers.get(0, 0) + pack_int(3) + INPUT + layers[0] + STATE
    out += pack_int(1)  # the sample expansion factor
    for layer in layers[1:]:
        out += layer + STATE
    return out


def resnet29(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """dlib's face ResNet-29 with random weights, and those weights by fer-da's names (the
    fc as torch holds it: (out, in))."""
    from fer_da.models.backbone_dlib import LEVELS

    layers, weights = [], {}

    def conv_affine(name: tuple[str, str], c_in: int, c_out: int, k: int, stride: int,
                    pad: int) -> None:
        w = rng.normal(0, 0.05, (c_out, c_in, k, k)).astype(np.float32)
        b = rng.normal(0, 0.01, c_out).astype(np.float32)
        g, be = rng.uniform(0.5, 1.5, c_out).astype(np.float32), rng.normal(0, 0.1, c_out)
        layers.extend([con(w, b, stride, pad), affine(g, be.astype(np.float32))])
        weights.update({f"{name[0]}.weight": w, f"{name[0]}.bias": b,
                        f"{name[1]}.weight": g, f"{name[1]}.bias": be.astype(np.float32)})

    conv_affine(("conv", "affine"), 3, 32, 7, 2, 0)
    layers += [RELU, pool("max_pool", 3, 2)]
    c_in = 32
    for li, (_, width, blocks, down) in enumerate(LEVELS):
        for k in range(blocks):
            first = down and k == 0
            p = f"levels.{li}.{k}"
            conv_affine((f"{p}.conv1", f"{p}.affine1"), c_in, width, 3, 2 if first else 1,
                        0 if first else 1)
            layers.append(RELU)
            conv_affine((f"{p}.conv2", f"{p}.affine2"), width, width, 3, 1, 1)
            layers += ([pool("avg_pool", 2, 2)] if first else []) + [ADD_PREV, RELU]
            c_in = width
    w = rng.normal(0, 0.05, (256, 128)).astype(np.float32)
    layers += [pool("avg_pool", 0, 1), fc(w)]
    weights["fc.weight"] = w.T.copy()
    return network(layers), weights
