import pytest
import torch
from torchvision.models import vgg11

from fer_da.models import FERNet, GradientReversal, ModelConfig, grad_reverse
from fer_da.models.backbone_vgg import BACKBONES


def test_gradient_reversal_multiplies_gradient_by_minus_one():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 3, dtype=torch.float64)
    assert torch.equal(grad_reverse(x), x)
    (grad_reverse(x) * w).sum().backward()
    torch.testing.assert_close(x.grad, -w)
    # numerically: d/dx of f(GRL(x)) equals -df/dx, checked by finite differences
    f = lambda t: (t ** 3).sum()  # noqa: E731
    y = x.detach().clone().requires_grad_(True)
    f(GradientReversal.apply(y, 1.0)).backward()
    eps, numeric = 1e-6, torch.zeros_like(y)
    for i in range(y.numel()):
        d = torch.zeros_like(y).view(-1)
        d[i] = eps
        d = d.view_as(y)
        numeric.view(-1)[i] = (f(y.detach() + d) - f(y.detach() - d)) / (2 * eps)
    torch.testing.assert_close(y.grad, -numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backbone", ["vgg11_slim", "vgg11_slim_bn"])
def test_forward_returns_one_structure_in_train_and_eval(backbone):
    model = FERNet(ModelConfig(backbone=backbone, n_classes=7, n_domains=3))
    x = torch.randint(0, 255, (2, 1, 32, 32), dtype=torch.uint8)
    for mode in (model.train, model.eval):
        mode()
        out = model(x)
        assert out._fields == ("class_logp", "domain_logp", "features", "class_logits",
                               "domain_in", "shared")
        assert torch.equal(out.domain_in, out.features)  # DANN's classifier reads F(x)
        assert torch.equal(out.shared, out.features)  # no conv branches: S(x) = F(x)
        torch.testing.assert_close(out.class_logp, torch.log_softmax(out.class_logits, 1))
        assert out.class_logp.shape == (2, 7) and out.domain_logp.shape == (2, 3)
        assert out.features.shape == (2, 600)
        torch.testing.assert_close(out.class_logp.exp().sum(1), torch.ones(2))


def test_every_registered_backbone_has_five_pool_taps():
    for name, spec in BACKBONES.items():
        assert spec.layers.count("M") == 5, name


def test_imagenet_weights_load_from_a_local_file(tmp_path):
    torch.manual_seed(0)
    reference = vgg11()
    path = tmp_path / "vgg11.pth"
    torch.save(reference.state_dict(), path)
    model = FERNet(ModelConfig(backbone="vgg11"))
    model.load_imagenet(str(path))
    torch.testing.assert_close(model.backbone.features[0].weight, reference.features[0].weight)
    torch.testing.assert_close(model.backbone.fc1.weight, reference.classifier[0].weight)
    with pytest.raises(FileNotFoundError, match="ImageNet weights for vgg11 not found"):
        model.load_imagenet(str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="no ImageNet weights"):
        FERNet(ModelConfig(backbone="vgg11_slim")).load_imagenet()


@pytest.mark.parametrize("backbone", ["resnet18_slim", "resnet18"])
def test_resnet_backbones_tap_five_stages_and_a_fc(backbone):
    model = FERNet(ModelConfig(backbone=backbone, n_classes=7, n_domains=2, tap_dim=8,
                               hidden=8))
    taps = model.backbone(torch.zeros(2, 3, 48, 48))
    width = {"resnet18_slim": 16, "resnet18": 64}[backbone]
    assert [t.shape[1] for t in taps[:5]] == [width, width, 2 * width, 4 * width, 8 * width]
    assert [t.shape[-1] for t in taps[:5]] == [48, 48, 24, 12, 6]
    out = model(torch.randint(0, 255, (2, 1, 48, 48), dtype=torch.uint8))
    assert out.class_logp.shape == (2, 7) and out.features.shape == (2, 48)
    with pytest.raises(ValueError, match=r"has no ImageNet (\(or other published\) )?weights"):
        model.load_imagenet()
    with pytest.raises(ValueError, match="unknown backbone 'nope'"):
        FERNet(ModelConfig(backbone="nope"))
