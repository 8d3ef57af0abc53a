"""Synthetic face domains written in the native layouts of the real datasets."""

from fer_da.synthetic.generate import PRESETS, ensure_domain, generate_domain

__all__ = ["PRESETS", "ensure_domain", "generate_domain"]
