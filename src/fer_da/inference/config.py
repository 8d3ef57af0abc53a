"""``params:inference``, validated once (by the inference nodes and, before any work, by
the preflight); no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fer_da.validate import as_bool, as_choice, as_float, as_int, check_keys

FACES = ("all", "largest")
MAX_BATCH = 65536  # faces per forward pass: more is an allocator error, not a speed-up
MAX_SHEET = 10000  # faces drawn on one contact sheet


@dataclass(frozen=True)
class InferenceConfig:
    every_s: float = 0.5  # a video frame every half second
    faces: str = "all"  # all | largest (the one training keeps)
    batch_size: int = 256
    device: str = "auto"
    sheet_max: int = 48  # faces on the contact sheet
    # the input's faces are one new domain: AdaBN on them before classifying (>= 2 faces)
    adapt_bn: bool = False

    @classmethod
    def from_params(cls, params: dict[str, Any] | None,
                    where: str = "inference") -> InferenceConfig:
        p = check_keys(params, INFERENCE_KEYS, where)
        return cls(every_s=as_float(p.get("every_s", 0.5), f"{where}.every_s", minimum=0.0),
                   faces=as_choice(p.get("faces", "all"), f"{where}.faces", FACES),
                   batch_size=as_int(p.get("batch_size", 256), f"{where}.batch_size",
                                     minimum=1, maximum=MAX_BATCH),
                   device=str(p.get("device", "auto")),
                   sheet_max=as_int(p.get("sheet_max", 48), f"{where}.sheet_max", minimum=0,
                                    maximum=MAX_SHEET),
                   adapt_bn=as_bool(p.get("adapt_bn", False), f"{where}.adapt_bn"))


# the keys read besides the dataclass's: the input and the setup (catalog paths, see
# conf/base/catalog.yml) and the run served (pipelines/inference/nodes.py)
INFERENCE_KEYS = (*InferenceConfig.__dataclass_fields__, "input", "setup", "run_id")
