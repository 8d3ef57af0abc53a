"""HA-GAN's animated character set (paper 004 trains on FERG-DB): many images of each
(character, expression) and each character's neutral faces, and a reader of FERG-DB's native
layout ``<character>/<character>_<expression>/<file>.png``. Kedro-free."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# FERG-DB's folder names -> the project's canonical labels
FERG_CLASSES = {"anger": "anger", "disgust": "disgust", "fear": "fear", "joy": "happiness",
                "neutral": "neutral", "sadness": "sadness", "surprise": "surprise"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class CharacterSet:
    """``images`` (M, S, S) uint8 with ``character`` (M,) and ``expression`` (M,) indices
    into ``names`` and the class vocabulary; ``neutral`` (N, S, S) with
    ``neutral_character`` (N,): the neutral faces of eq. 4's L1 term."""

    names: tuple[str, ...]
    images: np.ndarray
    character: np.ndarray
    expression: np.ndarray
    neutral: np.ndarray
    neutral_character: np.ndarray

    def check(self, count: int, n_classes: int, where: str) -> None:
        """Every (character, expression) of the first ``count`` characters has an image and
        every such character a neutral face; else a ValueError naming what is missing."""
        if count > len(self.names):
            raise ValueError(f"{where}: {count} characters asked, the character set has "
                             f"{len(self.names)} ({list(self.names)})")
        have = set(zip(self.character.tolist(), self.expression.tolist(), strict=True))
        missing = [(self.names[c], k) for c in range(count) for k in range(n_classes)
                   if (c, k) not in have]
        missing += [(self.names[c], "neutral") for c in range(count)
                    if c not in set(self.neutral_character.tolist())]
        if missing:
            raise ValueError(f"{where}: the character set has no image of {missing[:6]} "
                             f"(character, class index)")

    def first(self, count: int) -> CharacterSet:
        """The first ``count`` characters only."""
        keep, keep_n = self.character < count, self.neutral_character < count
        return CharacterSet(self.names[:count], self.images[keep], self.character[keep],
                            self.expression[keep], self.neutral[keep_n],
                            self.neutral_character[keep_n])

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "images": self.images, "character": self.character,
                "expression": self.expression, "neutral": self.neutral,
                "neutral_character": self.neutral_character}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CharacterSet:
        return cls(tuple(d["names"]), *(np.asarray(d[k]) for k in (
            "images", "character", "expression", "neutral", "neutral_character")))


def _load(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            img = opened
            if img.mode in ("RGBA", "LA", "P"):  # FERG-DB: characters on a transparent ground
                rgba = img.convert("RGBA")
                ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(ground, rgba)
            grey = img.convert("L").resize((size, size), Image.Resampling.LANCZOS)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"character image {path} cannot be read: {exc}") from exc
    return np.asarray(grey, dtype=np.uint8)


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
            files = sorted(f for f in folder.iterdir()
                           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
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
        from fer_da.synthetic.characters import render_characters

        chars = render_characters(list(classes), p["count"], size, p["per_expression"],
                                  p["seed"])
    else:
        chars = read_ferg(p["root"], classes, size, p["names"], p["classes"],
                          p["max_per_expression"], p["seed"])
    chars.check(needed, len(classes), where)
    return chars
