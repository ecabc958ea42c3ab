"""studio.data.faces: cartoon faces with exact attributes, worlds, the cache; the attribute classifier family.

Rendering 20,000 faces takes about 2 minutes on 2 cores, too slow for the suite: the worlds'
correlations are checked on 20,000 label draws of the same sampler that labels the drawn faces
(no drawing), and the pixels on a handful of faces.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from studio.data import DATASETS, get_dataset
from studio.data.faces import (
    ATTRIBUTES,
    WORLDS,
    World,
    faces,
    get_world,
    label_correlations,
    render_face,
    sample_faces,
)
from studio.errors import DataError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("world", sorted(WORLDS))
def test_world_rates_and_correlations_hold_on_20000_label_draws(world):
    table = sample_faces(world, 20000, "train", seed=3)
    exact = get_world(world).correlations()
    achieved = label_correlations(table)
    assert np.abs(achieved - exact).max() <= 0.02, (achieved - exact).round(3)
    for name in ATTRIBUTES:
        assert abs(table[name].mean() - get_world(world).rate(name)) <= 0.02
    assert set(np.unique(table["shade"])) == set(range(7))
    # the protected group is the shade, exactly
    assert ((table["shade"] >= 4) == (table["dark_skin"] == 1)).all()


def test_biased_world_is_biased_and_fair_world_is_not():
    biased, fair = WORLDS["biased"], WORLDS["fair"]
    assert biased.correlation("hat", "glasses") > 0.5
    assert biased.correlation("dark_skin", "smiling") < -0.2
    assert np.abs(fair.correlations() - np.eye(len(ATTRIBUTES))).max() < 1e-12
    # the same marginal rates in both worlds
    for name in ATTRIBUTES:
        assert biased.rate(name) == pytest.approx(fair.rate(name))
    # the exact correlation by hand: P(hat)=.3, P(g|h)=.7, P(g|not h)=.1
    p_g = 0.3 * 0.7 + 0.7 * 0.1
    cov = 0.3 * 0.7 - 0.3 * p_g
    assert biased.correlation("hat", "glasses") == pytest.approx(cov / np.sqrt(0.3 * 0.7 * p_g * (1 - p_g)))


def test_a_world_is_data_a_teacher_can_add():
    world = World("hats-for-all", "everyone wears a hat", p_hat=1.0)
    table = sample_faces(world, 500)
    assert table["hat"].all()
    with pytest.raises(DataError, match="probability"):
        World("bad", "", p_hat=1.5)


def _face(**changes) -> dict:
    table = sample_faces("fair", 1, seed=0)
    face = {key: int(values[0]) for key, values in table.items()}
    return {**face, **changes}


def test_labels_match_pixels():
    """The same face with one attribute switched on differs where that attribute is drawn, and
    (hat aside, which hides long hair) nowhere else."""
    base = _face(hat=0, glasses=0, smiling=0, beard=0)
    plain = render_face(base, 64).astype(int)
    bands = {"hat": (0, 24), "glasses": (18, 36), "smiling": (30, 42), "beard": (20, 52)}  # rows at 64 px
    for attribute, (top, bottom) in bands.items():
        changed = np.abs(render_face({**base, attribute: 1}, 64).astype(int) - plain).sum(axis=2) > 30  # (S, S)
        inside, outside = changed[top:bottom].sum(), changed[:top].sum() + changed[bottom:].sum()
        assert changed[top:bottom].mean() > 0.03 and inside > outside, (attribute, inside, outside)
        if attribute != "hat":
            assert outside == 0, attribute
    # skin: the dark group's shades are darker on the cheeks
    light, dark = render_face({**base, "shade": 0}, 64), render_face({**base, "shade": 6}, 64)
    assert dark[30:40, 24:40].mean() < light[30:40, 24:40].mean() - 40


def test_faces_are_deterministic_and_cached(tmp_path):
    first = faces("biased", n=6, image_size=32)
    cached = list((tmp_path / "cache" / "faces").glob("biased-*-train-s0-n6-32px-*.npz"))
    assert len(cached) == 1
    again = faces("biased", n=6, image_size=32)  # from the cache
    fresh = faces("biased", n=6, image_size=32, cache=False)
    assert torch.equal(first.images, again.images) and torch.equal(first.images, fresh.images)
    assert torch.equal(first.targets, again.targets)
    # face i does not depend on how many faces are asked for
    fewer = faces("biased", n=3, image_size=32, cache=False)
    assert torch.equal(fewer.images, first.images[:3])
    # other seeds and the test split are other faces
    other = faces("biased", n=6, image_size=32, seed=1, cache=False)
    test = faces("biased", n=6, image_size=32, split="test", cache=False)
    assert not torch.equal(other.images, first.images) and not torch.equal(test.images, first.images)


def test_dataset_shapes_labels_and_registry():
    data = get_dataset("faces", n=4, image_size=32)
    assert "faces" in DATASETS and "faces_fair" in DATASETS
    assert data.images.shape == (4, 3, 32, 32) and data.images.dtype == torch.float32
    assert -1.0 <= data.images.min() and data.images.max() <= 1.0
    assert data.targets.shape == (4, 5) and data.classes == list(ATTRIBUTES)
    image, labels = data[2]
    assert image.shape == (3, 32, 32) and labels.tolist() == [float(data.attributes[a][2]) for a in ATTRIBUTES]
    assert data.world.name == "biased" and get_dataset("faces_fair", n=2, image_size=32).world.name == "fair"
    assert data.pixels(0).shape == (32, 32, 3) and data.pixels(0).dtype == np.uint8


@pytest.mark.parametrize("kwargs, message", [
    ({"world": "utopia"}, "unknown world"),
    ({"image_size": 48}, "image_size"),
    ({"split": "val"}, "split"),
    ({"n": 0}, "n must be"),
])
def test_bad_input_is_refused_clearly(kwargs, message):
    with pytest.raises(DataError, match=message):
        faces(**{"n": 2, **kwargs})


def test_attribute_classifier_one_step_lowers_the_multilabel_loss():
    from studio.models import build
    from training.losses import multilabel_loss

    torch.manual_seed(0)
    model = build("attributes", {"num_classes": 5, "channels": 3, "image_size": 32, "width": 4})
    data = faces("fair", n=16, image_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = multilabel_loss(model(data.images), data.targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    assert model.predict(data.images).shape == (16, 5) and model.predict(data.images).dtype == torch.bool


def test_worlds_are_frozen_data():
    with pytest.raises(dataclasses.FrozenInstanceError):
        WORLDS["biased"].p_hat = 0.9


def test_the_caches_share_one_root(tmp_path, monkeypatch):
    """$GAN_STUDIO_CACHE, else $XDG_CACHE_HOME/gan-studio, else ~/.cache/gan-studio; a folder per kind
    (the faces, the metrics and the apply labs are each seen writing under theirs in their tests)."""
    from studio.cache import cache_dir

    assert cache_dir("faces") == tmp_path / "cache" / "faces"  # the fixture's $GAN_STUDIO_CACHE
    monkeypatch.delenv("GAN_STUDIO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("metrics") == tmp_path / "xdg" / "gan-studio" / "metrics"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("apply") == tmp_path / "home" / ".cache" / "gan-studio" / "apply"
