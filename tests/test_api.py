"""studio.api in-process: argument checks, which models a client may name, and the vendored
horse/zebra silhouettes a Space uses without animal-mnist."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from studio import api, explore, imaging, translate
from studio.errors import CheckpointError, DataError
from studio.translate import samples as translation_samples


@pytest.mark.parametrize("value", [-1, 2**31, 1.5, "x", None, True])
def test_bad_seeds_are_refused_with_the_range(value):
    with pytest.raises(DataError, match="seed must be a whole number from 0 to 2147483647"):
        api.check_int("seed", value, 0, api.MAX_SEED)


def test_seeds_and_truncation_parse():
    assert api.parse_seeds("3, 17,42") == [3, 17, 42] and api.check_int("n", "16", 1, 64) == 16
    assert api.check_truncation(0) is None and api.check_truncation("0.7") == 0.7
    for bad in (5, -0.5, "abc"):
        with pytest.raises(DataError, match="truncation must be 0"):
            api.check_truncation(bad)


def test_a_client_names_zoo_models_hub_ids_runs_and_uploads_only(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path / "runs"))
    (tmp_path / "runs" / "run-1").mkdir(parents=True)
    assert api.model_source("") == api.DEFAULT_MODEL and api.model_source("mnist-cgan") == "mnist-cgan"
    assert api.model_source("hf://org/repo@v1") == "hf://org/repo@v1"
    assert api.model_source(str(tmp_path / "runs" / "run-1")) == str((tmp_path / "runs" / "run-1").resolve())
    for hostile in ("/etc/passwd", "../../etc", str(tmp_path), "checkpoints/mnist-dcgan/model.safetensors"):
        with pytest.raises(CheckpointError, match="unknown model"):
            api.model_source(hostile)


def test_generate_is_the_studio_grid():
    _, (model, _meta) = api.load_model("mnist-dcgan")
    assert np.array_equal(api.generate("mnist-dcgan", 5, 9, 0.5),
                          imaging.grid(explore.truncated(model, 0.5, n=9, seed=5), nrow=3))


def test_without_animal_mnist_the_vendored_silhouettes_are_the_same_pictures(monkeypatch):
    meta = {"family": "cyclegan", "dataset": "horse2zebra", "image_size": 32, "channels": 1}
    animals = importlib.import_module("studio.data.animals")
    translation_samples._samples.cache_clear()
    with_package = translate.sample_inputs(meta, "b2a", count=8)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(animals.importlib.util, "find_spec",
                        lambda name, *a: None if name == "animal_mnist" else real_find_spec(name, *a))
    animals._animal_arrays.cache_clear()
    translation_samples._samples.cache_clear()
    try:
        with pytest.raises(DataError, match="animal-mnist"):
            animals.animals(("zebra",))
        vendored = translate.sample_inputs(meta, "b2a", count=8)
    finally:
        animals._animal_arrays.cache_clear()
        translation_samples._samples.cache_clear()
    assert [s.name for s in vendored] == [s.name for s in with_package]
    for a, b in zip(vendored, with_package):
        assert a.image.shape == (32, 32, 1) and np.array_equal(a.image, b.image)


def test_the_model_card_the_load_endpoint_shows_states_the_measured_fid():
    source, loaded = api.load_model("mnist-cgan")
    card = api.model_card(source, loaded)
    fid = loaded.meta["sample_metrics"]["classifier"]["fid"]
    assert f"{fid['value']:.2f} [{fid['interval'][0]:.2f}, {fid['interval'][1]:.2f}] in its data's classifier's features" in card
    source, loaded = api.load_model("mnist-classifier")
    assert "FID" not in api.model_card(source, loaded)  # a classifier draws no samples
