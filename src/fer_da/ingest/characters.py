"""HA-GAN's animated characters (paper 004 trains on FERG-DB): a reader of FERG-DB's native
layout ``<character>/<character>_<expression>/<file>.png``, and the character set a run's
parameters describe (drawn, or read from FERG-DB). Kedro-free."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fer_da.ingest.character_set import CharacterSet
from fer_da.ingest.tree import IMAGE_SUFFIXES, frames_of, open_checked

logger = logging.getLogger(__name__)

# FERG-DB's folder names -> the project's canonical labels
FERG_CLASSES = {"anger": "anger", "disgust": "disgust", "fear": "fear", "joy": "happiness",
                "neutral": "neutral", "sadness": "sadness", "surprise": "surprise"}


def _load(path: Path, size: int) -> np.ndarray:
    """One character image as (size, size) grey uint8: every format ingestion reads, a
    transparent ground made white, 16-bit data scaled by its depth as in ingestion; an
    animation, an oversized or an unreadable file is a ``ValueError`` naming it."""
    from PIL import Image, UnidentifiedImageError

    from fer_da.preprocess.image import INTEGER_MODES, to_rgb

    try:
        with open_checked(path, str(path)) as opened:
            if frames_of(opened) > 1:
                raise ValueError(f"{frames_of(opened)} frames (an animation); save a still "
                                 "image per file")
            opened.load()
            img = opened
            if img.mode in (*INTEGER_MODES, "F"):  # 16-bit: scaled, not clipped to white
                img = Image.fromarray(to_rgb(img))
            if img.mode in ("RGBA", "LA", "P", "PA"):  # FERG-DB: characters on a clear ground
                rgba = img.convert("RGBA")
                ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(ground, rgba)
            grey = img.convert("L").resize((size, size), Image.Resampling.LANCZOS)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"character image {path} cannot be read: {exc}") from exc
    return np.asarray(grey, dtype=np.uint8)


def _character_files(folder: Path) -> list[Path]:
    """The image files of an expression folder, sorted; anything else is logged as a
    skipped file with its reason (never dropped without a word)."""
    files, skipped = [], []
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
            files.append(f)
        else:
            kind = "a folder" if f.is_dir() else f"suffix {f.suffix or '(none)'!r}"
            skipped.append(f"{f.name} ({kind}: not an image, "
                           f"{', '.join(sorted(IMAGE_SUFFIXES))})")
    if skipped:
        logger.warning("FERG: %s: %d files skipped: %s", folder, len(skipped),
                       "; ".join(skipped))
    return files


def _stray_files(root: Path, names: Sequence[str]) -> None:
    """Files where FERG-DB's layout has only folders (the root, a character's folder): each
    logged as skipped with its place, never dropped without a word."""
    stray = [p for base in (root, *(root / n for n in names)) for p in sorted(base.iterdir())
             if not p.is_dir()]
    if stray:
        logger.warning("FERG: %d files skipped: %s (FERG-DB's layout is "
                       "<character>/<character>_<expression>/<image>)", len(stray),
                       "; ".join(str(p.relative_to(root)) for p in stray))


def ferg_characters(root: Path, names: Sequence[str] | None = None,
                    where: str = "characters") -> list[str]:
    """The characters of a FERG-DB root (its folders, or ``names`` found among them): a
    listing, no image read (the preflight runs it before any work)."""
    if not root.is_dir():
        raise FileNotFoundError(f"{where}.root {root} is not a folder (FERG-DB's "
                                "<character>/<character>_<expression>/ layout goes there)")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = list(names) if names else found
    unknown = [n for n in names if n not in found]
    if unknown or not names:
        raise ValueError(f"{where}.names {unknown or names} not found under {root} "
                         f"(folders: {found})")
    return names


def read_ferg(root: str | Path, classes: Sequence[str], size: int,
              names: Sequence[str] | None = None, class_map: Mapping[str, str] | None = None,
              max_per_expression: int | None = None, seed: int = 0) -> CharacterSet:
    """FERG-DB's layout: ``root/<character>/<character>_<expression>/<file>.png``.

    ``names``: the characters to use, in order (default: the sorted folder names).
    ``class_map``: folder expression -> class (FERG-DB's ``joy`` is ``happiness``); an
    expression outside ``classes`` (other than neutral) is left out. ``max_per_expression``:
    a seeded sample of at most that many images per (character, expression)."""
    root = Path(root)
    names = ferg_characters(root, names)
    mapping = {**FERG_CLASSES, **{str(k).lower(): v for k, v in (class_map or {}).items()}}
    _stray_files(root, names)
    lookup = {c: i for i, c in enumerate(classes)}
    rng = np.random.default_rng(seed)
    images, char, expr, neutral, neutral_char = [], [], [], [], []
    for ci, name in enumerate(names):
        pattern = re.compile(rf"^{re.escape(name)}_(?P<expression>.+)$", re.IGNORECASE)
        for folder in sorted(p for p in (root / name).iterdir() if p.is_dir()):
            m = pattern.match(folder.name)
            if not m:
                raise ValueError(f"character folder {folder} is not named "
                                 f"<character>_<expression> ({name}_<expression>)")
            label = mapping.get(m["expression"].lower())
            if label is None:
                raise ValueError(f"character folder {folder}: expression "
                                 f"{m['expression']!r} is not one of {sorted(mapping)} "
                                 "(characters.classes maps more)")
            if label != "neutral" and label not in lookup:
                continue  # a class the lab does not train on
            files = _character_files(folder)
            if max_per_expression and len(files) > max_per_expression:
                files = [files[i] for i in sorted(rng.choice(len(files), max_per_expression,
                                                             replace=False))]
            faces = [_load(f, size) for f in files]
            if label == "neutral":
                neutral += faces
                neutral_char += [ci] * len(faces)
            if label in lookup:
                images += faces
                char += [ci] * len(faces)
                expr += [lookup[label]] * len(faces)
    empty = np.zeros((0, size, size), np.uint8)
    return CharacterSet(tuple(names), np.stack(images) if images else empty,
                        np.asarray(char, np.int64), np.asarray(expr, np.int64),
                        np.stack(neutral) if neutral else empty,
                        np.asarray(neutral_char, np.int64))


CHARACTER_KEYS = ("source", "count", "per_expression", "root", "names", "classes",
                  "max_per_expression", "seed")


def character_options(params: Mapping[str, Any] | None, needed: int,
                      where: str = "hagan.characters") -> dict[str, Any]:
    """``params`` checked (keys, values, and for ``source: ferg`` the root and its character
    folders, listed, not read): cheap, so the preflight runs it before any work."""
    from fer_da.validate import ConfigError, as_choice, as_int, as_str_list, check_keys

    p = check_keys(params or {}, CHARACTER_KEYS, where)
    out = {"source": as_choice(p.get("source", "synthetic"), f"{where}.source",
                               ("synthetic", "ferg")),
           "seed": as_int(p.get("seed", 0), f"{where}.seed", minimum=0)}
    if out["source"] == "synthetic":
        out["count"] = as_int(p.get("count", 6), f"{where}.count", minimum=1, maximum=1000)
        if out["count"] < needed:
            raise ConfigError(f"{where}.count is {out['count']}; the hagan runs use {needed} "
                              "characters (options.characters)")
        out["per_expression"] = as_int(p.get("per_expression", 16), f"{where}.per_expression",
                                       minimum=1, maximum=100_000)
        return out
    if not p.get("root"):
        raise ConfigError(f"{where}.root: the FERG-DB folder is needed with source: ferg")
    if not isinstance(p["root"], str):
        raise ConfigError(f"{where}.root must be a path (a string), got {p['root']!r}")
    names = as_str_list(p["names"], f"{where}.names") if p.get("names") else None
    cap = p.get("max_per_expression")
    mapping = p.get("classes") or {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}.classes must map folder expressions to classes")
    try:
        names = ferg_characters(Path(p["root"]), names, where)
    except (OSError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    if len(names) < needed:
        raise ConfigError(f"{where}: {len(names)} characters under {p['root']}, the hagan "
                          f"runs use {needed} (options.characters)")
    return {**out, "root": p["root"], "names": names, "classes": dict(mapping),
            "max_per_expression": as_int(cap, f"{where}.max_per_expression",
                                         minimum=1) if cap else None}


def character_set(params: Mapping[str, Any] | None, classes: Sequence[str], size: int,
                  needed: int, where: str = "hagan.characters") -> CharacterSet:
    """The character set ``params`` describe (``source: synthetic`` draws FERG-DB-like
    characters; ``source: ferg`` reads FERG-DB's layout under ``root``), checked to hold
    every class of the first ``needed`` characters."""
    p = character_options(params, needed, where)
    if p["source"] == "synthetic":
        from fer_da.synthetic.cartoons import render_characters

        chars = render_characters(list(classes), p["count"], size, p["per_expression"],
                                  p["seed"])
    else:
        chars = read_ferg(p["root"], classes, size, p["names"], p["classes"],
                          p["max_per_expression"], p["seed"])
    chars.check(needed, len(classes), where)
    return chars
