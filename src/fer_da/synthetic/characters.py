"""The animated characters of HA-GAN (paper 004): fixed identities drawn by the synthetic
renderer in every expression, on a flat background, filling the frame. A pure function of
its arguments (same seed, same pixels)."""

from __future__ import annotations

import numpy as np

from fer_da.synthetic.faces import EXPRESSIONS, Style, blend, render, sample_identity

CHARACTER_STYLE = Style(
    width=64, height=64, grey=True, face_height=0.78, center=(0.5, 0.52), jitter=0.0,
    background=(90, 110, 140), light=0.0, brightness=0.0, contrast=1.15, noise=0.0,
    blur=0.0, skins=((236, 200, 160), (250, 220, 190)), hairs=((40, 30, 25), (150, 90, 40)),
    intensity=(1.0, 1.0), eye_scale=1.3)


def render_characters(classes: list[str], count: int, size: int,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` characters: (count, len(classes), size, size) uint8 faces showing each class
    at its peak, and (count, size, size) their neutral faces."""
    unknown = [c for c in classes if c not in EXPRESSIONS]
    if unknown:
        raise ValueError(f"the character renderer draws {sorted(EXPRESSIONS)}; it cannot draw "
                         f"{unknown} (labels.classes)")
    from PIL import Image

    def draw(who, label: str, k: int) -> np.ndarray:
        # the same generator per character: every expression shares its framing
        pixels, _ = render(who, blend(label, 1.0), CHARACTER_STYLE,
                           np.random.default_rng([seed, k]))
        img = Image.fromarray(pixels[..., 0], "L")
        return np.asarray(img.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)

    faces, neutral = [], []
    for k in range(count):
        who = sample_identity(np.random.default_rng([seed, 1000 + k]), CHARACTER_STYLE)
        faces.append(np.stack([draw(who, c, k) for c in classes]))
        neutral.append(draw(who, "neutral", k))
    return np.stack(faces), np.stack(neutral)
