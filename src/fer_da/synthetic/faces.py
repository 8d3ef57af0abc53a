"""Procedural face renderer: identities x expressions x domain styles.

Everything is a pure function of its arguments and a ``numpy.random.Generator``: the same
seed renders the same pixels. Geometry is expressed in units of the face half-height ``u``
so that one description serves every resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Identity:
    """What stays fixed for one synthetic person."""

    aspect: float  # face half-width / half-height
    skin: RGB
    hair: RGB
    hair_style: int  # 0 short fringe, 1 long sides, 2 high forehead
    eye_gap: float  # half distance between the eyes, in u
    eye_size: float  # multiplier of the eye opening
    iris: RGB
    nose_len: float  # multiplier of the nose length
    mouth_w: float  # multiplier of the mouth width
    lip: RGB
    brow_thick: float  # brow width, in u


@dataclass(frozen=True)
class Shape:
    """Expression geometry; every field is 0 (or 1 for multipliers) on a neutral face."""

    brow_raise: float = 0.0  # + raises both brows
    brow_tilt: float = 0.0  # + inner ends up (sadness, fear), - inner ends down (anger)
    eye_open: float = 1.0  # multiplier of the eye opening
    mouth_curve: float = 0.0  # + corners up (smile), - corners down
    mouth_open: float = 0.0  # opening of the lips, in u
    mouth_width: float = 1.0  # multiplier of the mouth width
    upper_lip: float = 0.0  # raise of the upper lip (disgust)
    wrinkle: float = 0.0  # nose wrinkles (disgust)
    asym: float = 0.0  # one-sided raise of the right mouth corner (contempt)


NEUTRAL = Shape()
EXPRESSIONS: dict[str, Shape] = {
    "neutral": NEUTRAL,
    "anger": Shape(brow_raise=-0.55, brow_tilt=-1.0, eye_open=0.65, mouth_curve=-0.25,
                   mouth_width=0.8, mouth_open=0.02),
    "disgust": Shape(brow_raise=-0.35, brow_tilt=-0.3, eye_open=0.55, mouth_curve=-0.45,
                     upper_lip=1.0, wrinkle=1.0, mouth_open=0.06, mouth_width=0.9),
    "fear": Shape(brow_raise=0.7, brow_tilt=0.8, eye_open=1.55, mouth_curve=-0.2,
                  mouth_open=0.12, mouth_width=1.25),
    "happiness": Shape(brow_raise=0.1, eye_open=0.75, mouth_curve=1.0, mouth_open=0.08,
                       mouth_width=1.3),
    "sadness": Shape(brow_raise=0.15, brow_tilt=1.0, eye_open=0.7, mouth_curve=-0.9,
                     mouth_width=0.95),
    "surprise": Shape(brow_raise=1.1, eye_open=1.7, mouth_open=0.32, mouth_width=0.75),
    "contempt": Shape(brow_raise=-0.1, eye_open=0.85, asym=1.0, mouth_width=1.0),
}


def blend(label: str, intensity: float) -> Shape:
    """The expression ``label`` at ``intensity`` in [0, 1] (0 = neutral, 1 = peak)."""
    peak = EXPRESSIONS[label]
    t = float(np.clip(intensity, 0.0, 1.0))
    mixed = {
        name: getattr(NEUTRAL, name) + t * (getattr(peak, name) - getattr(NEUTRAL, name))
        for name in NEUTRAL.__dataclass_fields__
    }
    return replace(NEUTRAL, **mixed)


@dataclass(frozen=True)
class Style:
    """How one domain photographs its faces."""

    width: int
    height: int
    grey: bool
    face_height: float  # face height (chin to hairline) as a fraction of the frame height
    center: tuple[float, float]  # face centre, relative to the frame
    jitter: float  # uniform jitter of the centre, relative to the frame
    background: RGB
    light: float  # strength of a left-right illumination ramp
    brightness: float  # added to every channel (grey levels)
    contrast: float  # multiplier around mid-grey
    noise: float  # sigma of Gaussian pixel noise (grey levels)
    blur: float  # Gaussian blur radius (pixels)
    skins: tuple[RGB, ...]
    hairs: tuple[RGB, ...]
    clothes: tuple[RGB, ...] = ((40, 40, 60), (90, 30, 30), (30, 70, 40), (200, 200, 205))
    intensity: tuple[float, float] = (0.85, 1.0)  # range of expression intensity at the peak
    eye_scale: float = 1.0  # multiplier of every identity's eye size
    gap_scale: float = 1.0  # multiplier of every identity's eye spacing


def sample_identity(rng: np.random.Generator, style: Style) -> Identity:
    """Draw one person from the domain's palette of identities."""

    def pick(palette: tuple[RGB, ...]) -> RGB:
        base = np.array(palette[rng.integers(len(palette))], dtype=float)
        return tuple(int(v) for v in np.clip(base + rng.normal(0, 6, 3), 0, 255))

    return Identity(
        aspect=float(rng.uniform(0.70, 0.84)),
        skin=pick(style.skins),
        hair=pick(style.hairs),
        hair_style=int(rng.integers(3)),
        eye_gap=float(rng.uniform(0.33, 0.40)) * style.gap_scale,
        eye_size=float(rng.uniform(0.85, 1.15)) * style.eye_scale,
        iris=pick(((70, 45, 30), (60, 90, 120), (40, 30, 25), (80, 100, 60))),
        nose_len=float(rng.uniform(0.85, 1.2)),
        mouth_w=float(rng.uniform(0.85, 1.15)),
        lip=pick(((170, 80, 80), (150, 70, 75), (120, 60, 55))),
        brow_thick=float(rng.uniform(0.045, 0.075)),
    )


def _shade(color: RGB, factor: float) -> RGB:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in color)


def _bezier(p0, p1, p2, n: int = 16) -> list[tuple[float, float]]:
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t**2 * np.array(p2)
    return [tuple(p) for p in pts]


def _draw_head(draw: ImageDraw.ImageDraw, cx: float, cy: float, u: float, who: Identity,
               clothes: RGB) -> None:
    w = who.aspect * u
    skin, dark_skin = who.skin, _shade(who.skin, 0.8)
    # shoulders, neck, hair behind the head, ears
    draw.ellipse([cx - 2.2 * w, cy + 1.25 * u, cx + 2.2 * w, cy + 3.2 * u], fill=clothes)
    draw.rectangle([cx - 0.45 * w, cy + 0.6 * u, cx + 0.45 * w, cy + 1.45 * u], fill=dark_skin)
    if who.hair_style == 1:
        draw.rounded_rectangle([cx - 1.18 * w, cy - 1.12 * u, cx + 1.18 * w, cy + 0.9 * u],
                               radius=0.6 * w, fill=who.hair)
    else:
        draw.ellipse([cx - 1.1 * w, cy - 1.15 * u, cx + 1.1 * w, cy + 0.4 * u], fill=who.hair)
    for side in (-1, 1):
        ex = cx + side * w
        draw.ellipse([ex - 0.14 * u, cy - 0.18 * u, ex + 0.14 * u, cy + 0.16 * u], fill=dark_skin)
    draw.ellipse([cx - w, cy - u, cx + w, cy + u], fill=skin)
    # fringe
    if who.hair_style == 0:
        draw.chord([cx - w, cy - 1.05 * u, cx + w, cy - 0.25 * u], 180, 360, fill=who.hair)
    elif who.hair_style == 1:
        draw.chord([cx - w, cy - 1.05 * u, cx + w, cy - 0.45 * u], 180, 360, fill=who.hair)


def _draw_eyes(draw: ImageDraw.ImageDraw, cx: float, cy: float, u: float, who: Identity,
               shape: Shape) -> float:
    """Eyes and brows; returns the eyes' height (the nose starts there)."""
    skin = who.skin
    # eyes
    ye = cy - 0.12 * u
    eh = 0.075 * u * who.eye_size * shape.eye_open
    ew = 0.16 * u
    for side in (-1, 1):
        ex = cx + side * who.eye_gap * u
        draw.ellipse([ex - ew * 1.15, ye - eh * 1.6, ex + ew * 1.15, ye + eh * 1.5],
                     fill=_shade(skin, 0.88))  # eye socket shadow
        draw.ellipse([ex - ew, ye - eh, ex + ew, ye + eh], fill=(245, 245, 240))
        r = min(0.07 * u, eh * 1.05)
        draw.ellipse([ex - r, ye - r, ex + r, ye + r], fill=who.iris)
        pupil = 0.45 * r
        draw.ellipse([ex - pupil, ye - pupil, ex + pupil, ye + pupil], fill=(15, 15, 15))
        draw.arc([ex - ew, ye - eh, ex + ew, ye + eh], 180, 360, fill=(40, 30, 30),
                 width=max(1, int(0.025 * u)))
    # brows
    yb = ye - (0.2 + 0.1 * shape.brow_raise) * u - 0.06 * u * max(0.0, shape.eye_open - 1.0)
    for side in (-1, 1):
        inner = (cx + side * 0.12 * u, yb - 0.07 * u * shape.brow_tilt)
        mid = (cx + side * (who.eye_gap * u), yb - 0.05 * u)
        outer = (cx + side * (who.eye_gap + 0.2) * u, yb + 0.03 * u)
        draw.line(_bezier(inner, mid, outer, 10), fill=_shade(who.hair, 0.8),
                  width=max(1, int(who.brow_thick * u)), joint="curve")
    return ye


def _draw_nose(draw: ImageDraw.ImageDraw, cx: float, u: float, ye: float, who: Identity,
               shape: Shape, cy: float) -> None:
    skin = who.skin
    # nose
    yn = cy + 0.2 * u * who.nose_len
    draw.polygon([(cx, ye), (cx - 0.1 * u, yn), (cx + 0.1 * u, yn)], fill=_shade(skin, 0.9))
    for side in (-1, 1):
        nx = cx + side * 0.07 * u
        draw.ellipse([nx - 0.035 * u, yn - 0.02 * u, nx + 0.035 * u, yn + 0.03 * u],
                     fill=_shade(skin, 0.45))
    if shape.wrinkle > 0.2:
        for k in range(3):
            yy = ye + (0.02 + 0.04 * k) * u
            draw.line([(cx - 0.07 * u, yy), (cx + 0.07 * u, yy)], fill=_shade(skin, 0.6),
                      width=max(1, int(0.018 * u * shape.wrinkle)))


def _draw_mouth(draw: ImageDraw.ImageDraw, cx: float, cy: float, u: float, who: Identity,
                shape: Shape) -> None:
    # mouth
    ym = cy + 0.5 * u
    mw = 0.24 * u * who.mouth_w * shape.mouth_width
    lift = 0.12 * u * shape.mouth_curve
    left = (cx - mw, ym - lift)
    right = (cx + mw, ym - lift - 0.12 * u * shape.asym)
    top = ym - 0.05 * u - 0.07 * u * shape.upper_lip + 0.5 * lift
    bottom = ym + 0.06 * u + shape.mouth_open * u + 0.5 * lift
    upper = _bezier(left, (cx, top - 0.03 * u), right)
    lower = _bezier(right, (cx, bottom + 0.05 * u), left)
    draw.polygon(upper + lower, fill=who.lip)
    if shape.mouth_open > 0.03:
        inner_top = _bezier(left, (cx, top + 0.05 * u), right)
        inner_bottom = _bezier(right, (cx, bottom - 0.02 * u), left)
        draw.polygon(inner_top + inner_bottom, fill=(50, 15, 20))
        teeth = _bezier((cx - 0.6 * mw, top + 0.05 * u), (cx, top + 0.1 * u),
                        (cx + 0.6 * mw, top + 0.05 * u), 8)
        draw.line(teeth, fill=(235, 235, 225), width=max(1, int(0.05 * u)))
    else:
        draw.line(_bezier(left, (cx, 0.5 * (top + bottom) + 0.4 * lift), right),
                  fill=_shade(who.lip, 0.5), width=max(1, int(0.02 * u)))


def _draw_face(draw: ImageDraw.ImageDraw, cx: float, cy: float, u: float,
               who: Identity, shape: Shape, clothes: RGB) -> None:
    """Head, eyes and brows, nose, mouth: in this order (later shapes cover earlier)."""
    _draw_head(draw, cx, cy, u, who, clothes)
    ye = _draw_eyes(draw, cx, cy, u, who, shape)
    _draw_nose(draw, cx, u, ye, who, shape, cy)
    _draw_mouth(draw, cx, cy, u, who, shape)


def render(who: Identity, shape: Shape, style: Style, rng: np.random.Generator,
           supersample: int = 2) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Render one photograph; returns the image (HxWx3 uint8) and the face box (x0, y0, x1, y1)."""
    s = supersample
    W, H = style.width * s, style.height * s
    cx = (style.center[0] + rng.uniform(-style.jitter, style.jitter)) * W
    cy = (style.center[1] + rng.uniform(-style.jitter, style.jitter)) * H
    u = 0.5 * style.face_height * H * rng.uniform(0.93, 1.07)
    clothes = style.clothes[int(rng.integers(len(style.clothes)))]
    canvas = Image.new("RGB", (W, H), style.background)
    _draw_face(ImageDraw.Draw(canvas), cx, cy, u, who, shape, clothes)
    canvas = canvas.resize((style.width, style.height), Image.Resampling.LANCZOS)
    if style.blur > 0:
        canvas = canvas.filter(ImageFilter.GaussianBlur(style.blur))
    img = np.asarray(canvas, dtype=np.float32)
    ramp = 1.0 + style.light * np.linspace(-1.0, 1.0, style.width, dtype=np.float32)
    img = img * ramp[None, :, None]
    img = (img - 128.0) * style.contrast + 128.0 + style.brightness
    if style.grey:
        img = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        img = np.repeat(img[..., None], 3, axis=2)
    if style.noise > 0:
        img = img + rng.normal(0.0, style.noise, img.shape[:2])[..., None].astype(np.float32)
    out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    w = who.aspect * u
    box = ((cx - w) / s, (cy - u) / s, (cx + w) / s, (cy + u) / s)
    return out, box
