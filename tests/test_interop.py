"""studio.checkpoints.interop: public generator layouts load and reproduce their reference outputs.

The fixtures in tests/fixtures/interop/ hold each layout's keys and shapes (NAME.json) and an
input/output pair from the reference network (NAME.io.safetensors). The weights are rebuilt from
each key's name and shape by the rule in the fixtures' README (``fixture_weights`` below).
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from studio import checkpoints
from studio.errors import CheckpointError
from studio.checkpoints.interop import import_state_dict
from studio.models import DCGAN, CycleGAN, ForeignDCGAN, Pix2Pix
from studio.models.dcgan import DCGANGenerator

FIXTURES = Path(__file__).parent / "fixtures" / "interop"
LAYOUTS = {
    # name: (expected class, recognised layout named in the description)
    "junyanz_unet256": (Pix2Pix, "pix2pix reference U-Net"),
    "junyanz_resnet9": (CycleGAN, "CycleGAN reference ResNet"),
    "huggan_pix2pix_unet": (Pix2Pix, "community pix2pix GeneratorUNet"),
    "huggan_cyclegan_resnet9": (CycleGAN, "community CycleGAN GeneratorResNet"),
    "huggan_dcgan64": (DCGAN, "classic DCGAN generator"),
}


def fixture_weight(key: str, shape: list[int]) -> torch.Tensor:
    """The fixtures' weight rule: a function of the key's name and shape only."""
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    if key.endswith("running_var"):
        return torch.rand(shape, generator=g) + 0.5
    if key.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=g)
    if len(shape) == 1 and key.endswith("weight"):
        return 1.0 + 0.1 * torch.randn(shape, generator=g)
    if len(shape) == 1:
        return 0.1 * torch.randn(shape, generator=g)
    return torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))


def fixture_spec(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture_weights(name: str) -> dict[str, torch.Tensor]:
    return {key: fixture_weight(key, shape) for key, shape, _ in fixture_spec(name)["keys"]}


def fixture_io(name: str) -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / f"{name}.io.safetensors")


def run(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        if isinstance(model, (Pix2Pix, CycleGAN)):
            return model.translate(x)
        return model.generate(x.flatten(1))  # the DCGAN fixture's input is z as (1, 100, 1, 1)


def max_error(model, name: str) -> float:
    io = fixture_io(name)
    return (run(model, io["input"]) - io["output"]).abs().max().item()


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_public_layout_reproduces_reference_output(name):
    model, description = import_state_dict(fixture_weights(name))
    cls, layout = LAYOUTS[name]
    assert type(model) is cls
    assert not model.training
    assert layout in description
    assert max_error(model, name) < 1e-4


@pytest.mark.parametrize(
    "name, build, part",
    [
        ("junyanz_unet256", lambda: Pix2Pix(ngf=64, depth=8, image_size=256), "generator"),
        ("junyanz_resnet9", lambda: CycleGAN(ngf=64, n_blocks=9), "generator_ab"),
        ("huggan_pix2pix_unet", lambda: Pix2Pix(norm="instance", generator_arch="community_unet"), "generator"),
        ("huggan_cyclegan_resnet9", lambda: CycleGAN(generator_arch="community_resnet"), "generator_ab"),
    ],
)
def test_family_generators_match_public_keys_in_order(name, build, part):
    with torch.device("meta"):  # shapes only
        state = getattr(build(), part).state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == [(k, s) for k, s, _ in fixture_spec(name)["keys"]]


def assert_same_translation(model, original) -> None:
    x = torch.rand(2, original.in_channels, original.image_size, original.image_size) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(model.translate(x), original.eval().translate(x), atol=1e-5)


def test_dataparallel_module_prefix_is_stripped():
    original = CycleGAN(image_size=32, ngf=4, n_blocks=2)
    model, description = import_state_dict({f"module.{k}": v for k, v in original.generator_ab.state_dict().items()})
    assert "'module.' prefix" in description
    assert_same_translation(model, original)


def test_stray_instance_norm_buffers_are_dropped():
    weights = fixture_weights("junyanz_resnet9")
    for norm in ("model.2", "model.5", "model.10.conv_block.2", "model.18.conv_block.6", "model.23"):
        weights[f"{norm}.running_mean"] = torch.zeros(4)
        weights[f"{norm}.running_var"] = torch.ones(4)
        weights[f"{norm}.num_batches_tracked"] = torch.tensor(7)
    model, description = import_state_dict(weights)
    assert "dropped 15 stray instancenorm buffers" in description.lower()
    assert max_error(model, "junyanz_resnet9") < 1e-4


def test_resnet_trained_with_dropout_has_second_conv_at_conv_block_6():
    weights = {k.replace(".conv_block.5.", ".conv_block.6."): v for k, v in fixture_weights("junyanz_resnet9").items()}
    model, description = import_state_dict(weights)
    assert model.config["dropout"] is True
    assert "conv_block.6" in description
    assert "model.10.conv_block.6.weight" in model.generator_ab.state_dict()
    assert max_error(model, "junyanz_resnet9") < 1e-4  # dropout is inactive in eval mode


def test_nested_state_dict_and_old_batchnorm_without_counters():
    original = Pix2Pix(image_size=32, ngf=4, depth=5)
    weights = {k: v for k, v in original.generator.state_dict().items() if not k.endswith("num_batches_tracked")}
    model, description = import_state_dict({"state_dict": weights, "epoch": 200})
    assert "'state_dict' entry" in description and "num_batches_tracked" in description
    assert_same_translation(model, original)


def test_unknown_layout_names_the_closest_layout_and_differing_keys():
    weights = fixture_weights("junyanz_resnet9")
    weights["model.10.conv_block.1.weight_orig"] = weights.pop("model.10.conv_block.1.weight")  # spectral norm
    with pytest.raises(CheckpointError) as err:
        import_state_dict(weights)
    message = str(err.value)
    assert "closest known layout is the CycleGAN reference ResNet generator" in message
    assert "Missing keys: model.10.conv_block.1.weight." in message
    assert "Unexpected keys: model.10.conv_block.1.weight_orig." in message

    with pytest.raises(CheckpointError, match="no known generator shares its keys"):
        import_state_dict({"encoder.layer.0.weight": torch.zeros(4, 4)})


def test_truncated_key_set_is_refused_with_its_missing_keys():
    keys = fixture_spec("junyanz_unet256")["keys"]
    weights = {k: fixture_weight(k, s) for k, s, _ in keys[:-2]}  # the outermost up-conv is cut off
    with pytest.raises(CheckpointError) as err:
        import_state_dict(weights)
    message = str(err.value)
    assert "closest known layout is the pix2pix reference U-Net" in message
    assert "80 of its 82 keys found" in message
    assert "Missing keys: model.model.3.weight, model.model.3.bias." in message


def test_shape_mismatch_is_reported():
    weights = fixture_weights("huggan_cyclegan_resnet9")
    weights["model.12.block.5.bias"] = torch.zeros(255)
    with pytest.raises(CheckpointError, match=r"model.12.block.5.bias: file \(255,\), expected \(256,\)"):
        import_state_dict(weights)


@pytest.mark.parametrize(
    "original, part",
    [
        (Pix2Pix(in_channels=1, out_channels=3, image_size=64, ngf=8, depth=6), "generator"),  # unet_64
        (Pix2Pix(image_size=32, ngf=4, depth=5, norm="instance"), "generator"),
        (Pix2Pix(in_channels=3, out_channels=1, image_size=32, ngf=4, depth=5, head=6), "generator"),  # studio head
        (CycleGAN(in_channels=1, out_channels=3, image_size=32, ngf=8, n_blocks=6), "generator_ab"),
        (Pix2Pix(in_channels=3, out_channels=1, ngf=4, norm="instance", generator_arch="community_unet"), "generator"),
        (CycleGAN(image_size=32, ngf=8, n_blocks=3, generator_arch="community_resnet"), "generator_ab"),
    ],
)
def test_sizes_are_inferred_from_shapes(original, part):
    model, _ = import_state_dict(getattr(original, part).state_dict())
    for key in ("in_channels", "out_channels", "ngf", "norm", "generator_arch", "head"):
        assert model.config.get(key) == original.config.get(key)
    assert_same_translation(model, original)


def test_dcgan_at_a_size_studio_does_not_build_gets_a_faithful_module():
    generator = DCGANGenerator(latent_dim=8, image_size=16, channels=1, width=4).eval()
    weights = {f"main.{k}": v for k, v in generator.main.state_dict().items()}  # pytorch/examples naming
    model, description = import_state_dict(weights)
    assert isinstance(model, ForeignDCGAN)
    assert (model.latent_dim, model.image_size, model.channels) == (8, 16, 1)
    assert "16x16" in description
    z = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.allclose(model.generate(z), generator(z), atol=1e-6)
    assert model.sample(2, seed=1).shape == (2, 1, 16, 16)


def test_an_imported_dcgan_at_another_size_saves_and_loads(tmp_path):
    generator = DCGANGenerator(latent_dim=8, image_size=16, channels=1, width=4).eval()
    model, _ = import_state_dict({f"main.{k}": v for k, v in generator.main.state_dict().items()})
    checkpoints.save(model.eval(), tmp_path / "foreign")
    loaded = checkpoints.load(tmp_path / "foreign")
    assert loaded.meta["family"] == "foreign_dcgan" and isinstance(loaded.model, ForeignDCGAN)
    assert loaded.model.config == model.config
    assert torch.equal(loaded.model.sample(3, seed=2), model.sample(3, seed=2))


def test_non_tensor_values_are_refused():
    with pytest.raises(CheckpointError, match="state dict of tensors"):
        import_state_dict({"model": {"a": 1}, "epoch": 3})
