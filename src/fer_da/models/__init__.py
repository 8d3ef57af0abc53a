"""Models: the VGG feature extractor with multi-level taps, heads, gradient reversal."""

from fer_da.models.fer_net import FERNet, ModelConfig, ModelOutput
from fer_da.models.flops import training_flops_per_image
from fer_da.models.grl import GradientReversal, grad_reverse

__all__ = ["FERNet", "GradientReversal", "ModelConfig", "ModelOutput", "grad_reverse",
           "training_flops_per_image"]
