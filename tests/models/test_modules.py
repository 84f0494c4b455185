import pytest
import torch

from hwr_eval.errors import HwrError
from hwr_eval.models import CNN, MLP, LeNet5, LinearNet
from hwr_eval.models._modules import ModernCNN, _Flatten, image_side


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("cls", [LinearNet, MLP, CNN, LeNet5])
@pytest.mark.parametrize("n_features", [784, 256, 10])
def test_modules_map_flat_rows_to_logits(cls, n_features):
    module = cls(n_classes=7, n_features=n_features)
    out = module(torch.rand(5, n_features))
    assert out.shape == (5, 7)
    assert torch.isfinite(out).all()


def test_image_side_pads_to_the_next_square():
    assert image_side(784) == 28
    assert image_side(256) == 16
    assert image_side(10) == 4
    assert image_side(10, min_side=12) == 12


def test_linear_is_a_single_affine_layer():
    assert _n_params(LinearNet(n_classes=36)) == 784 * 36 + 36


def test_mlp_has_hidden_layer_relu_and_dropout_before_classifier():
    mlp = MLP(n_classes=36, hidden=256)
    layers = list(mlp.net)
    assert [type(m) for m in layers] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Dropout, torch.nn.Linear]
    assert layers[0].out_features == 256 and layers[2].p == 0.5
    assert _n_params(mlp) == 784 * 256 + 256 + 256 * 36 + 36


def test_cnn_structure_follows_parameters():
    cnn = CNN(n_classes=36, channels=(8, 12), hidden=64, pool="max")
    convs = [m for m in cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 8, (3, 3), (1, 1)),
        (8, 12, (3, 3), (1, 1)),
    ]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in cnn.modules()) == 2
    assert not any(isinstance(m, torch.nn.AvgPool2d) for m in cnn.modules())
    dropouts = [m for m in cnn.modules() if isinstance(m, torch.nn.Dropout)]
    assert [d.p for d in dropouts] == [0.5]
    assert cnn.classifier[0].in_features == 12 * 7 * 7 and cnn.classifier[0].out_features == 64


def test_cnn_pools_by_average_by_default():
    cnn = CNN()
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in cnn.modules()) == 2


def test_cnn_pool_choice_changes_the_output():
    torch.manual_seed(0)
    avg = CNN(n_classes=3, pool="avg").eval()
    mx = CNN(n_classes=3, pool="max").eval()
    mx.load_state_dict(avg.state_dict())
    x = torch.rand(4, 784)
    assert not torch.allclose(avg(x), mx(x))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pool": "median"}, "unknown pool type 'median'"),
        ({"channels": (8,)}, "two convolution widths"),
        ({"hidden": 0}, "hidden must be a positive integer"),
    ],
)
def test_cnn_rejects_bad_settings(kwargs, match):
    with pytest.raises(HwrError, match=match):
        CNN(**kwargs)


def test_lenet5_keeps_the_classic_layer_sizes():
    lenet = LeNet5(n_classes=36)
    convs = [m for m in lenet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(6, (5, 5)), (16, (5, 5))]
    linears = [m for m in lenet.modules() if isinstance(m, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(16 * 5 * 5, 120), (120, 84), (84, 36)]


def test_flatten_hands_a_channels_last_map_its_gradient_in_channels_last_with_the_same_values():
    torch.manual_seed(0)
    weights = torch.randn(3 * 5 * 5, 2)
    grads = {}
    for flatten in (_Flatten(), torch.nn.Flatten()):
        leaf = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(1), requires_grad=True)
        x = leaf.contiguous(memory_format=torch.channels_last)  # a layer's output, as in a net (not a leaf)
        (grads[type(flatten)],) = torch.autograd.grad((flatten(x) @ weights).square().sum(), x)
    assert grads[_Flatten].is_contiguous(memory_format=torch.channels_last)
    assert not grads[torch.nn.Flatten].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(grads[_Flatten], grads[torch.nn.Flatten])
    x = torch.randn(4, 3, 5, 5, requires_grad=True) * 1  # a row-major map keeps row-major gradients
    assert torch.autograd.grad((_Flatten()(x) @ weights).sum(), x)[0].is_contiguous()


@pytest.mark.parametrize("cls", [CNN, LeNet5, ModernCNN])
def test_conv_nets_train_to_the_same_numbers_as_with_torchs_flatten_and_relu(cls):
    """The layout-keeping flatten and the in-place ReLUs change speed only: same gradients, bit for bit."""
    x, y = torch.rand(16, 784), torch.arange(16) % 7
    grads = []
    for plain in (False, True):
        torch.manual_seed(0)
        net = cls(n_classes=7).to(memory_format=torch.channels_last)
        if plain:
            for seq in (net.features, net.classifier):
                for i, layer in enumerate(seq):
                    if isinstance(layer, _Flatten):
                        seq[i] = torch.nn.Flatten()
                    elif isinstance(layer, torch.nn.ReLU):
                        seq[i] = torch.nn.ReLU()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        grads.append([p.grad for p in net.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))
