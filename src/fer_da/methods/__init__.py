"""Training methods: one module per method or family (its loss, heads and objective) and
one table that says what each is (``registry.py``, importable without torch)."""

from fer_da.methods.registry import (
    ADABN,
    CONTROL,
    METHODS,
    SETUPS,
    MethodSpec,
    SetupSpec,
    adaptation_methods,
    adversarial_methods,
    method,
    needing,
    sibling_methods,
)

__all__ = ["ADABN", "CONTROL", "METHODS", "SETUPS", "MethodSpec", "SetupSpec",
           "adaptation_methods", "adversarial_methods", "method", "needing",
           "sibling_methods"]
