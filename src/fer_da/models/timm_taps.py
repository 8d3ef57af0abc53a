"""Any timm model as a tap module (``backbone: timm:<name>``; timm is imported only here).

A model timm can build with ``features_only`` gives one tap per feature level it reports
(a ResNet: the stem and four stages); a model that cannot (some transformers) gives no conv
tap, only its pooled feature (``pooled_only``; the report and docs/training.md say so). Both
end in a fully connected layer on the pooled last level, as the VGG taps do. Normalisation
is the model's own (``pretrained_cfg`` mean and std).
"""

from __future__ import annotations

import torch
from torch import nn

from fer_da.models.face_resnets import IMAGENET_MEAN, IMAGENET_STD


class TimmTaps(nn.Module):
    def __init__(self, name: str, fc_dim: int = 512):
        super().__init__()
        import timm

        if name not in timm.list_models():
            raise ValueError(f"timm has no model {name!r} (timm.list_models() lists them)")
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
        self.pretrained_prefixes = ("net.",)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.pooled_only:
            return [torch.relu(self.fc1(self.net(x)))]
        taps = list(self.net(x))
        return [*taps, torch.relu(self.fc1(taps[-1].mean(dim=(2, 3))))]

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
