"""The animated characters of HA-GAN (paper 004), drawn in FERG-DB's manner: a few fixed
identities (FERG-DB has six), each in every expression many times over, varied in pose
(position, size), lighting, expression intensity and small identity details, on a flat
background that the face fills. A pure function of its arguments (same seed, same pixels)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fer_da.ingest.character_set import CharacterSet
from fer_da.synthetic.faces import EXPRESSIONS, Identity, Style, blend, render, sample_identity

CHARACTER_STYLE = Style(
    width=64, height=64, grey=True, face_height=0.78, center=(0.5, 0.52), jitter=0.0,
    background=(90, 110, 140), light=0.0, brightness=0.0, contrast=1.15, noise=0.0,
    blur=0.0, skins=((236, 200, 160), (250, 220, 190)), hairs=((40, 30, 25), (150, 90, 40)),
    intensity=(1.0, 1.0), eye_scale=1.3)
CHARACTER_NAMES = ("aia", "bonnie", "jules", "malcolm", "mery", "ray")  # FERG-DB's six


def _varied(rng: np.random.Generator) -> Style:
    """One photograph's pose and lighting: the face moves, scales and is lit from a side."""
    return replace(CHARACTER_STYLE, jitter=0.04, light=float(rng.uniform(-0.25, 0.25)),
                   brightness=float(rng.uniform(-18, 18)),
                   face_height=CHARACTER_STYLE.face_height * float(rng.uniform(0.92, 1.05)))


def _details(who: Identity, rng: np.random.Generator) -> Identity:
    """Small identity details an animator varies between frames (eye size, mouth, brow)."""
    return replace(who, eye_size=who.eye_size * float(rng.uniform(0.94, 1.06)),
                   mouth_w=who.mouth_w * float(rng.uniform(0.94, 1.06)),
                   brow_thick=who.brow_thick * float(rng.uniform(0.9, 1.1)))


def render_characters(classes: list[str], count: int, size: int, per_expression: int = 1,
                      seed: int = 0) -> CharacterSet:
    """``count`` characters, each showing every class ``per_expression`` times and its
    neutral face as many times. ``per_expression=1`` draws the canonical frames only (the
    peak expression, centred, flat light), as before this set had variation."""
    unknown = [c for c in classes if c not in EXPRESSIONS]
    if unknown:
        raise ValueError(f"the character renderer draws {sorted(EXPRESSIONS)}; it cannot draw "
                         f"{unknown} (labels.classes)")
    from PIL import Image

    def draw(who: Identity, label: str, k: int, v: int) -> np.ndarray:
        rng = np.random.default_rng([seed, k, v, sorted(EXPRESSIONS).index(label)])
        style, intensity = CHARACTER_STYLE, 1.0
        if v > 0:  # frame 0 is the canonical one
            style, who = _varied(rng), _details(who, rng)
            intensity = float(rng.uniform(0.6, 1.0))
        pixels, _ = render(who, blend(label, intensity), style, rng)
        img = Image.fromarray(pixels[..., 0], "L")
        return np.asarray(img.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)

    images, char, expr, neutral, neutral_char = [], [], [], [], []
    for k in range(count):
        who = sample_identity(np.random.default_rng([seed, 1000 + k]), CHARACTER_STYLE)
        for ci, label in enumerate(classes):
            images += [draw(who, label, k, v) for v in range(per_expression)]
            char += [k] * per_expression
            expr += [ci] * per_expression
        neutral += [draw(who, "neutral", k, v) for v in range(per_expression)]
        neutral_char += [k] * per_expression
    names = tuple(CHARACTER_NAMES[k] if k < len(CHARACTER_NAMES) else f"character{k}"
                  for k in range(count))
    return CharacterSet(names, np.stack(images), np.asarray(char, np.int64),
                        np.asarray(expr, np.int64), np.stack(neutral),
                        np.asarray(neutral_char, np.int64))
