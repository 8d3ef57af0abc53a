"""HA-GAN's animated character set (paper 004): many images of each (character,
expression) and each character's neutral faces. A leaf: drawn by ``synthetic/cartoons.py``,
read from FERG-DB by ``ingest/characters.py``, trained on by ``training/hagan.py``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


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
