"""A reader of dlib's serialized networks (``serialize.h``, ``dnn/core.h``, ``dnn/layers.h``),
written with numpy alone: fer-da never links dlib.

The format, as dlib writes it:
- an integer is one size byte (its low nibble: the number of bytes that follow; bit 7: the
  sign) and that many little-endian bytes; a string is an integer length and its bytes; a
  bool is the character ``'0'`` or ``'1'``; a float or double is two integers, a mantissa
  and a base-2 exponent (``float_details``: exponents 32000-32002 stand for inf, -inf, NaN);
- a tensor is version 2, four integer dimensions and that many little-endian float32; an
  alias tensor (a view into a layer's ``params``) is version 1 and four dimensions;
- a network nests from the loss down: ``add_loss_layer`` (version 1, the loss record, then
  the subnetwork), ``add_layer`` (version 2: the subnetwork first, then the layer's record,
  three bools and three tensors), tag and skip layers (version 1, the subnetwork) and, at the
  bottom, the ``add_layer`` over the input (version 3: the input record, the layer's record,
  three bools, three tensors, an integer).

:func:`read_records` returns the layer records from the input up, each with its fields and
parameters. It knows the records of dlib's face-recognition ResNet (``input_rgb_image_sized``,
``con_4``, ``affine_``, ``relu_``, ``max_pool_2``, ``avg_pool_2``, ``add_prev_``, ``fc_2``,
``loss_metric_2``) and their later versions; any other record, a truncated file or trailing
bytes is an error naming the file and the byte offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FLOAT_SPECIAL = {32000: np.inf, 32001: -np.inf, 32002: np.nan}
MAX_DEPTH = 2000  # nested layers; dlib's face ResNet has about 160


class DlibFormatError(ValueError):
    """A file that is not the dlib network it claims to be."""


@dataclass
class Record:
    """One layer record: its name as dlib writes it (``con_4``), its scalar fields and its
    parameters (float32, flat; ``params`` of a convolution holds filters then biases)."""

    name: str
    fields: dict = field(default_factory=dict)
    params: np.ndarray | None = None

    @property
    def kind(self) -> str:
        """The layer kind without its version suffix: ``con``, ``affine``, ``fc`` …"""
        return self.name.rstrip("_0123456789").rstrip("_") or self.name


class Stream:
    """dlib's primitive encodings, read from bytes; errors name the file and offset."""

    def __init__(self, data: bytes, source: str):
        self.data, self.source, self.pos = data, source, 0

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"{self.source}: {what} at byte {self.pos} of {len(self.data)} "
                               "(not dlib's serialized face-recognition network, or damaged)")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"file ends while reading {n} bytes")
        out = self.data[self.pos: self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        head = self.take(1)[0]
        size = head & 0x0F
        if size == 0 or size > 8 or head & 0x70:
            raise self.fail(f"bad integer header 0x{head:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if head & 0x80 else value

    def str(self, limit: int = 256) -> str:
        n = self.int()
        if not 0 <= n <= limit:
            raise self.fail(f"string of {n} bytes where a record name belongs")
        try:
            return self.take(n).decode("ascii")
        except UnicodeDecodeError as err:
            raise self.fail("a record name that is not ASCII") from err

    def bool(self) -> bool:
        ch = self.take(1)
        if ch not in (b"0", b"1"):
            raise self.fail(f"bool {ch!r} is neither '0' nor '1'")
        return ch == b"1"

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent in FLOAT_SPECIAL:
            return float(FLOAT_SPECIAL[exponent])
        return float(np.ldexp(float(mantissa), exponent))

    def dims(self, version: int) -> tuple[int, int, int, int]:
        got = self.int()
        if got != version:
            raise self.fail(f"tensor version {got}, expected {version}")
        dims = tuple(self.int() for _ in range(4))
        if any(d < 0 for d in dims):
            raise self.fail(f"negative tensor dimensions {dims}")
        return dims

    def tensor(self) -> np.ndarray:
        dims = self.dims(2)
        count = int(np.prod(dims, dtype=np.int64))
        return np.frombuffer(self.take(4 * count), dtype="<f4").reshape(dims).copy()

    def alias(self) -> tuple[int, int, int, int]:
        return self.dims(1)


def _multipliers(s: Stream, fields: dict) -> None:
    for key in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
        fields[key] = s.float()


def _con(s: Stream, name: str) -> Record:
    params = s.tensor()
    fields = {k: s.int() for k in ("num_filters", "nr", "nc", "stride_y", "stride_x",
                                   "padding_y", "padding_x")}
    fields["filters"], fields["biases"] = s.alias(), s.alias()
    _multipliers(s, fields)
    if name in ("con_5", "con_6"):
        fields["use_bias"] = s.bool()
    if name == "con_6":
        fields["use_relu"] = s.bool()
    return Record(name, fields, params.reshape(-1))


def _fc(s: Stream, name: str) -> Record:
    fields = {"num_outputs": s.int(), "num_inputs": s.int()}
    params = s.tensor()
    fields["weights"], fields["biases"] = s.alias(), s.alias()
    fields["bias_mode"] = s.int()
    _multipliers(s, fields)
    if name == "fc_3":
        fields["use_bias"] = s.bool()
    return Record(name, fields, params.reshape(-1))


def _affine(s: Stream, name: str) -> Record:
    params = s.tensor()
    fields = {"gamma": s.alias(), "beta": s.alias(), "mode": s.int()}
    if name == "affine_2":
        fields["disabled"] = s.bool()
    return Record(name, fields, params.reshape(-1))


def _pool(s: Stream, name: str) -> Record:
    return Record(name, {k: s.int() for k in ("nr", "nc", "stride_y", "stride_x",
                                              "padding_y", "padding_x")})


def _relu(s: Stream, name: str) -> Record:
    return Record(name, {"disabled": s.bool()} if name == "relu_2" else {})


def _input(s: Stream, name: str) -> Record:
    fields = {"avg_red": s.float(), "avg_green": s.float(), "avg_blue": s.float()}
    fields["nr"], fields["nc"] = s.int(), s.int()
    return Record(name, fields)


def _loss(s: Stream, name: str) -> Record:
    return Record(name, {"margin": s.float(), "dist_thresh": s.float()}
                  if name == "loss_metric_2" else {})


READERS = {
    **dict.fromkeys(("con_4", "con_5", "con_6"), _con),
    **dict.fromkeys(("fc_2", "fc_3"), _fc),
    **dict.fromkeys(("affine_", "affine_2"), _affine),
    **dict.fromkeys(("max_pool_2", "avg_pool_2"), _pool),
    **dict.fromkeys(("relu_", "relu_2"), _relu),
    "add_prev_": lambda s, name: Record(name),
    "input_rgb_image_sized": _input,
    **dict.fromkeys(("loss_metric_", "loss_metric_2"), _loss),
}
INPUTS = {"input_rgb_image_sized"}
LOSSES = {"loss_metric_", "loss_metric_2"}


def _record(s: Stream, allowed: set[str] | None = None) -> Record:
    at = s.pos
    name = s.str()
    reader = READERS.get(name)
    if reader is None or (allowed is not None and name not in allowed):
        s.pos = at
        raise s.fail(f"unknown or misplaced layer record {name!r}")
    return reader(s, name)


def _layer_state(s: Stream, bottom: bool) -> None:
    """What ``add_layer`` writes after its layer: three bools and three tensors (the
    gradients and cached output of training; empty in a saved network), an integer more
    at the bottom."""
    for _ in range(3):
        s.bool()
    for _ in range(3):
        s.tensor()
    if bottom:
        s.int()  # the sample expansion factor


def _subnetwork(s: Stream) -> list[Record]:
    """The layers below a point, from the input up (iterative: no recursion limit)."""
    pending = 0  # add_layers opened whose record comes after their subnetwork
    for _ in range(MAX_DEPTH):
        version = s.int()
        if version == 1:  # a tag or skip layer: nothing but its subnetwork
            continue
        if version == 2:
            pending += 1
            continue
        if version != 3:
            raise s.fail(f"layer version {version}")
        records = [_record(s, INPUTS), _record(s)]
        _layer_state(s, bottom=True)
        for _ in range(pending):
            records.append(_record(s))
            if records[-1].name in INPUTS | LOSSES:
                raise s.fail(f"a second {records[-1].name} record")
            _layer_state(s, bottom=False)
        return records
    raise s.fail(f"more than {MAX_DEPTH} nested layers")


def read_records(path: str | Path) -> list[Record]:
    """Every layer record of a dlib network file, from the input record up to the loss's."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dlib network file {path} does not exist")
    s = Stream(path.read_bytes(), str(path))
    if s.int() != 1:
        raise s.fail("no add_loss_layer (version 1) at the start")
    loss = _record(s, LOSSES)
    records = [*_subnetwork(s), loss]
    if s.pos != len(s.data):
        raise s.fail(f"{len(s.data) - s.pos} bytes after the network")
    return records
