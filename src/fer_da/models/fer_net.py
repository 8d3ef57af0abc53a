"""The paper's classifier (Fig. 2): VGG feature extractor F, label predictor, domain classifier."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from fer_da.models.backbones import build_taps
from fer_da.models.grl import grad_reverse
from fer_da.models.heads import (
    ConvBranch,
    DispellingHead,
    DistillingHead,
    domain_mlp,
    fc_branch,
    mlp_head,
)

SHARED_TAP = 3  # ED²L's conv branches read the fourth of the five conv taps (the last
# stage is theirs, as SphereFace-20's Conv4 is in paper 001, Table 1)


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "vgg11_slim_bn"
    n_classes: int = 7
    n_domains: int = 4
    tap_dim: int = 100  # each tap is densified to this many components (paper: 100)
    tap_pool: int = 2  # conv taps are average-pooled to tap_pool x tap_pool before densifying
    hidden: int = 128  # width of the heads' hidden layer
    domain_hidden: tuple[int, ...] = ()  # the domain classifier's hidden widths; () = (hidden,)
    domain_dropout: float = 0.0  # dropout after each of its hidden layers
    domain_conditioning: str = "features"  # features (DANN) | multilinear (CDAN: f (x) p)
    label_head: str = "mlp"  # mlp (the paper) | am_softmax (ED²L's distilling branch)
    am_scale: float = 30.0  # s of the additive-margin softmax
    identities: int = 0  # > 0: a subject-identity head (JM / ATF, paper 003)
    dispelling: bool = False  # ED²L's dispelling branch and dispeller (paper 001)
    branch: str = "fc"  # ED²L's branches: fc (one layer on F's features) | conv (Table 1)
    input_size: int | None = None  # the backbone's input; None = its own (ir50 112) or any

    def to_dict(self) -> dict:
        return asdict(self)


class ModelOutput(NamedTuple):
    class_logp: torch.Tensor  # (B, n_classes) log-probabilities
    domain_logp: torch.Tensor  # (B, n_domains) log-probabilities, through gradient reversal
    features: torch.Tensor  # (B, 6 * tap_dim) the latent features of F
    class_logits: torch.Tensor | None = None  # (B, n_classes) before the softmax
    domain_in: torch.Tensor | None = None  # what the domain classifier reads, before the GRL
    shared: torch.Tensor | None = None  # what ED²L's branches read: S(x)


class FERNet(nn.Module):
    """Input: grey images (B, 1, H, W), uint8 or float in 0..255; normalised inside."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.backbone = build_taps(config.backbone)
        p = config.tap_pool
        self.tap_pool = nn.AdaptiveAvgPool2d((p, p))
        dims = [c * p * p for c in self.backbone.stage_channels] + [self.backbone.fc_dim]
        self.densify = nn.ModuleList(
            nn.Sequential(nn.Linear(d, config.tap_dim), nn.LeakyReLU(0.01)) for d in dims)
        if config.branch not in ("fc", "conv"):
            raise ValueError(f"unknown branch {config.branch!r}; choose fc or conv")
        self.conv_branches = config.branch == "conv"
        if self.conv_branches and config.label_head != "am_softmax":
            raise ValueError("branch: conv is ED²L's (label_head am_softmax), got label_head "
                             f"{config.label_head!r}")
        feat = config.tap_dim * len(dims)
        if config.label_head == "mlp":
            self.label_head = mlp_head(feat, config.hidden, config.n_classes)
        elif config.label_head == "am_softmax":
            self.label_head = DistillingHead(self._branch(feat), config.hidden,
                                             config.n_classes, config.am_scale)
        else:
            raise ValueError(f"unknown label_head {config.label_head!r}")
        if self.conv_branches:  # F's features are then f_t, the distilling branch's FC-256
            feat = config.hidden
        if config.domain_conditioning not in ("features", "multilinear"):
            raise ValueError(f"unknown domain_conditioning {config.domain_conditioning!r}")
        self.conditional = config.domain_conditioning == "multilinear"
        self.domain_head = domain_mlp(feat * (config.n_classes if self.conditional else 1),
                                      tuple(config.domain_hidden) or (config.hidden,),
                                      config.n_domains, config.domain_dropout)
        # auxiliary heads of the sibling methods; their losses live in fer_da/methods/
        self.identity_head = (mlp_head(feat, config.hidden, config.identities)
                              if config.identities > 0 else None)
        self.dispelling_head = (DispellingHead(self._branch(config.tap_dim * len(dims)),
                                               config.hidden, config.n_classes)
                                if config.dispelling else None)
        # the backbone's own normalisation (ImageNet, face: 0.5/0.5, a timm model's) and
        # input size (ir50: 112; None: the crops' own size)
        self.register_buffer("mean", torch.tensor(self.backbone.mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(self.backbone.std).view(1, 3, 1, 1) * 255.0)
        self.input_size = config.input_size or self.backbone.input_size
        # (depth, pooled tap shapes, boundary map shape) while training on cached frozen
        # stages (training/frozen.py); None: the model reads images
        self.cache_layout: tuple | None = None
        self.layout: tuple | None = None  # what frozen_rows last produced

    def _branch(self, feat: int) -> nn.Module:
        """An ED²L branch: on F's features (fc), or Table 1's convolutional block on the
        shared map (conv; as wide as twice the map, at most the paper's 256)."""
        if self.config.branch == "fc":
            return fc_branch(feat, self.config.hidden)
        c_in = self.backbone.stage_channels[SHARED_TAP]
        return ConvBranch(c_in, min(2 * c_in, 256), self.config.hidden, self.config.tap_pool)

    @property
    def feature_dim(self) -> int:
        return self.config.hidden if self.conv_branches else (
            self.config.tap_dim * len(self.densify))

    def load_imagenet(self, weights_file: str | None = None) -> list[str]:
        """The backbone's pretrained weights (ImageNet; MS-Celeb-1M for ir50; dlib's; a timm
        model's): from ``weights_file`` or the local cache, as its module loads them
        (``Taps.load_pretrained``). Returns the file's keys left out (its own head)."""
        return self.backbone.load_pretrained(weights_file)

    def normalised(self, x: torch.Tensor) -> torch.Tensor:
        """Grey images in 0..255 as the backbone takes them: resized to its input size,
        replicated to three channels, its own mean and std."""
        x = x.float()
        if self.input_size and x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False)
        return (x.expand(-1, 3, -1, -1) - self.mean) / self.std

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's taps of grey images in 0..255 (resized to its input size); while
        a frozen-stage cache is attached (training/frozen.py), of cached rows."""
        if self.cache_layout is not None:
            return self.cached_taps(x)
        return self.backbone(self.normalised(x))

    @torch.no_grad()
    def frozen_rows(self, x: torch.Tensor, depth: int) -> torch.Tensor:
        """What stages 0..``depth`` of a staged backbone give for grey images, one row per
        image: each tap they produce pooled as ``densified`` pools it, then the map the next
        stage reads (none after the last stage). Sets :attr:`cache_layout`."""
        taps, out = self.backbone.run(self.normalised(x), 0, depth + 1)
        maps = [self.tap_pool(t) if t.dim() == 4 else t for t in taps]
        pooled = [torch.flatten(m, 1) for m in maps]
        shapes = [tuple(m.shape[1:]) for m in maps]
        last = depth + 1 >= len(self.backbone.stage_names)
        self.layout = (depth, shapes, None if last else tuple(out.shape[1:]))
        return torch.cat([*pooled, *([] if last else [torch.flatten(out, 1)])], dim=1)

    def cached_taps(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """The taps from cached rows ((B, D), or (B, 1, views, D): the first view): the
        frozen stages' pooled taps as cached, the trainable stages run on the cached map."""
        depth, shapes, boundary = self.cache_layout
        rows = rows.reshape(rows.shape[0], -1, rows.shape[-1])[:, 0].float()
        sizes = [math.prod(s) for s in shapes] + ([math.prod(boundary)] if boundary else [])
        parts = torch.split(rows, sizes, dim=1)
        taps = [p.reshape(-1, *s) for p, s in zip(parts, shapes, strict=False)]
        if boundary is None:
            return taps
        more, _ = self.backbone.run(parts[-1].reshape(-1, *boundary), depth + 1)
        return [*taps, *more]

    def densified(self, taps: list[torch.Tensor]) -> torch.Tensor:
        """F(x): the concatenated densified taps."""
        parts = [d(torch.flatten(self.tap_pool(t), 1)) for d, t in zip(self.densify, taps[:-1],
                                                                        strict=False)]
        parts.append(self.densify[-1](taps[-1]))
        return torch.cat(parts, dim=1)

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        """F(x): the concatenated densified taps."""
        return self.densified(self.taps(x))

    def forward(self, x: torch.Tensor, with_domain: bool = True) -> ModelOutput:
        """``with_domain=False``: no domain log-probabilities (``None``); training computes
        the domain game from ``domain_in`` itself (methods/domain_game.py)."""
        taps = self.taps(x)
        if self.conv_branches:  # ED²L, Table 1: the branches read the shared map S(x)
            shared = taps[SHARED_TAP]
            features = self.label_head.branch(shared)
            class_logits = self.label_head.classifier(features)
        else:
            features = shared = self.densified(taps)
            class_logits = self.label_head(features)
        class_logp = F.log_softmax(class_logits, dim=1)
        domain_in = features
        if self.conditional:  # CDAN: the domain classifier sees f (x) p (p not trained by it)
            p = class_logp.detach().exp()
            domain_in = torch.bmm(p.unsqueeze(2), features.unsqueeze(1)).flatten(1)
        domain_logp = (F.log_softmax(self.domain_head(grad_reverse(domain_in)), dim=1)
                       if with_domain else None)
        return ModelOutput(class_logp, domain_logp, features, class_logits, domain_in, shared)
