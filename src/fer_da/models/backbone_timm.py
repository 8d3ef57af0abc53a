"""Any timm model as a tap module (``backbone: timm:<name>``, registered by this module as a
family; timm is imported only here).

A model timm can build with ``features_only`` gives one tap per feature level it reports
(a ResNet: the stem and four stages); a model that cannot (some transformers) gives no conv
tap, only its pooled feature (``pooled_only``; the report and docs/training.md say so). Both
end in a fully connected layer on the pooled last level, as the VGG taps do. Normalisation
is the model's own (``pretrained_cfg`` mean and std).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fer_da.models.backbones import register_family
from fer_da.models.weights import IMAGENET_MEAN, IMAGENET_STD, existing, read_state_dict


def check_timm_name(name: str) -> None:
    """A ValueError unless timm can build a model of this name (no model is built)."""
    import timm

    if name not in timm.list_models():
        raise ValueError(f"timm has no model {name!r} (timm.list_models() lists them)")


class TimmTaps(nn.Module):
    def __init__(self, name: str, fc_dim: int = 512):
        super().__init__()
        import timm

        self.name = name
        check_timm_name(name)
        try:
            self.net = timm.create_model(name, pretrained=False, features_only=True)
            self.stage_channels = list(self.net.feature_info.channels())
            self.pooled_only = False
            last = self.stage_channels[-1]
        except (RuntimeError, AttributeError, AssertionError, NotImplementedError):
            self.net = timm.create_model(name, pretrained=False, num_classes=0)
            self.stage_channels, self.pooled_only = [], True
            last = self.net.num_features
        cfg = dict(getattr(self.net, "pretrained_cfg", None) or {})
        self.hf_hub_id = cfg.get("hf_hub_id")
        self.mean = tuple(cfg.get("mean", IMAGENET_MEAN))
        self.std = tuple(cfg.get("std", IMAGENET_STD))
        # convolutional: any size; a patch-embedding transformer only its own
        fixed = self.pooled_only or hasattr(getattr(self.net, "model", self.net), "patch_embed")
        self.input_size = int(cfg["input_size"][-1]) if fixed and cfg.get("input_size") else None
        self.fc1 = nn.Linear(last, fc_dim)
        self.fc_dim = fc_dim

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.pooled_only:
            return [torch.relu(self.fc1(self.net(x)))]
        taps = [_channels_first(t, c) for t, c in zip(self.net(x), self.stage_channels,
                                                     strict=True)]
        return [*taps, torch.relu(self.fc1(taps[-1].mean(dim=(2, 3))))]

    def load_file(self, path: str) -> list[str]:
        """A published timm checkpoint (``model.safetensors`` or a ``torch.save`` file, read
        with ``weights_only``): timm maps its keys onto the model (its own filter, strict),
        so wrapped feature models (ConvNeXt ``stages_0``, ViT ``model.*``) load too. Returns
        the file's keys the backbone does not use (its classifier)."""
        import timm

        state = read_state_dict(path)  # refuses what is not a plain state dict
        loaded = timm.create_model(
            self.name, pretrained=True, features_only=not self.pooled_only,
            **({"num_classes": 0} if self.pooled_only else {}),
            pretrained_cfg_overlay={"file": str(path)})
        self.net.load_state_dict(loaded.state_dict())
        used = timm.create_model(self.name, pretrained=False, num_classes=0).state_dict()
        return sorted(set(state) - set(used))

    def load_pretrained(self, weights_file: str | None) -> list[str]:
        """``weights_file``, else the model's weights in the local Hugging Face cache."""
        cached = weights_file or self.cached_weights()
        path = Path(cached) if cached else Path(f"<Hugging Face cache of {self.hf_hub_id}>")
        return self.load_file(str(existing(path, f"timm:{self.name}")))

    def cached_weights(self) -> str | None:
        """The model's weights in the local Hugging Face cache (nothing is downloaded)."""
        if not self.hf_hub_id:
            return None
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin"):
            path = try_to_load_from_cache(self.hf_hub_id, filename)
            if isinstance(path, str):
                return path
        return None


def _channels_first(tap: torch.Tensor, channels: int) -> torch.Tensor:
    """A feature map as (B, C, H, W): some timm models (Swin) return (B, H, W, C)."""
    if tap.ndim == 4 and tap.shape[1] != channels and tap.shape[-1] == channels:
        return tap.permute(0, 3, 1, 2)
    return tap


# any timm model by name; convolutional ones take 32 px and more
register_family("timm:", min_input_size=32)(TimmTaps)
