"""The evaluation tab: studio.audit.evaluation (truncation sweep in z and W, PCA feature map, nearest
real neighbours, extractor disagreement), the checked studio.api calls, and page 10 under AppTest.
The metric formulas themselves are checked in test_metrics.py; the Gradio /evaluate endpoint in
test_gradio_app.py. Small N throughout, the MNIST classifier as extractor (fast on a CPU)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from studio import api, imaging
from studio.audit import evaluation
from studio.errors import CheckpointError, DataError

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PAGE = "app_pages/10_Evaluation.py"
CLASSIFIER = "classifier:mnist-classifier"


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """One metrics cache for the module: the reference features are computed once."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("metrics-cache")
        patch.setenv("GAN_STUDIO_CACHE", str(path))
        yield path


def _test_digits(indices) -> np.ndarray:
    from studio.data import get_dataset

    return imaging.to_uint8(get_dataset("mnist", split="test", image_size=28).images[list(indices)])  # (N, 28, 28, 1)


def _save(folder: Path, images, names) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names):
        Image.fromarray(image[..., 0]).save(folder / f"{name}.png")
    return folder


# ----------------------------------------------------------------------------- the truncation sweep

def test_truncation_sweep_trades_recall_for_precision_as_tau_falls():
    found = evaluation.sweep("mnist-dcgan", (0.25, 1.0, None), n=200, extractor=CLASSIFIER)
    assert found["space"] == "z" and found["parameter"] == "τ" and found["values"] == [0.25, 1.0, None]
    precision, recall, fid = found["precision"], found["recall"], found["fid"]
    assert precision[0] > precision[2] + 0.1  # truncated samples are more typical ...
    assert recall[0] < recall[2] - 0.3  # ... and far less diverse
    assert fid[0] > 2 * fid[2]  # heavy truncation costs FID: diversity is part of it


def test_a_stylegan_is_swept_in_w_and_psi_zero_draws_one_image():
    from studio.models import StyleGAN

    torch.manual_seed(0)
    tiny = StyleGAN(latent_dim=8, w_dim=8, mapping_layers=2, image_size=16, channels=1, width=8, disc_width=8).eval()
    with torch.no_grad():
        tiny.w_avg.normal_()
    meta = {"source": "tiny-stylegan", "dataset": "mnist"}
    flat = np.concatenate(list(evaluation.w_source(tiny, meta, 12, psi=0.0).batches(5)))
    free = np.concatenate(list(evaluation.w_source(tiny, meta, 12, psi=1.0).batches(5)))
    assert flat.shape == free.shape == (12, 16, 16, 1)
    assert (flat == flat[0]).all() and not (free == free[0]).all()  # psi 0: every w is the average w
    found = evaluation.sweep((tiny, meta), (0.0, 1.0), reference="mnist:test", n=40, extractor=CLASSIFIER)
    assert found["space"] == "w" and found["parameter"] == "ψ" and found["values"] == [0.0, 1.0]
    assert found["recall"][0] == 0.0  # one image covers no real digit
    assert found["fid"][0] != found["fid"][1]


# ----------------------------------------------------------------------------- features in 2-d, neighbours

def test_pca_projection_shapes_and_a_broken_generator_sits_apart(tiny_checkpoints, tmp_path):
    broken = evaluation.feature_map(tiny_checkpoints["dcgan"], "mnist:test", n=60, extractor=CLASSIFIER, shown=4)
    assert broken["fake"].shape == (60, 2) and broken["real"].shape == (1000, 2)
    assert len(broken["explained"]) == 2 and 0 < broken["explained"][1] <= broken["explained"][0] < 1
    assert broken["samples"].shape == (4, 28, 28, 1) and broken["neighbours"].shape == (4, 3, 28, 28, 1)
    assert (np.diff(broken["distances"], axis=1) >= 0).all()  # nearest first
    digits = _test_digits(np.random.default_rng(1).choice(1000, 60, replace=False))
    real = _save(tmp_path / "real", digits, range(60))  # real digits as "samples"
    honest = evaluation.feature_map(real, "mnist:test", n=60, extractor=CLASSIFIER, shown=4)
    # real digits sit on the real cloud's centre (about 0.1 of its radius); the untrained generator's
    # blobs about 0.8 radii away
    assert honest["separation"] < 0.25 and broken["separation"] > max(0.5, 4 * honest["separation"])


def test_the_nearest_neighbour_of_a_copied_real_image_is_itself(tiny_checkpoints, tmp_path):
    from studio import checkpoints, explore

    fakes = explore.samples(checkpoints.load(tiny_checkpoints["dcgan"]).model, 20, seed=3)  # (20, 28, 28, 1)
    folder = _save(tmp_path / "mixed", fakes, [f"fake-{i:02d}" for i in range(20)])
    copied = 321
    _save(folder, _test_digits([copied]), ["real-copy"])  # sorted last of 21 files
    found = evaluation.feature_map(folder, "mnist:test", n=21, extractor=CLASSIFIER, shown=3)
    assert found["copies"] == 1 and found["sample_index"][0] == 20
    assert found["distances"][0, 0] == pytest.approx(0.0, abs=1e-9)
    assert found["ratio"][0] == pytest.approx(0.0, abs=1e-9)
    assert found["neighbour_index"][0, 0] == copied
    assert np.array_equal(found["neighbours"][0, 0], found["samples"][0])
    assert found["distances"][1:, 0].min() > 0  # the generated ones are not copies


def test_nearest_real_and_pca_on_plain_arrays():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((50, 6))
    fake = np.concatenate([real[[7, 3]], rng.standard_normal((4, 6)) + 10])
    index, distance = evaluation.nearest_real(fake, real, k=2)
    assert index.shape == distance.shape == (6, 2) and list(index[:2, 0]) == [7, 3]
    assert np.allclose(distance[:2, 0], 0) and (distance[2:, 0] > 5).all()
    projection = evaluation.pca_2d(real, fake)
    assert projection["real"].shape == (50, 2) and projection["fake"].shape == (6, 2)
    assert np.allclose(projection["real"].mean(axis=0), 0, atol=1e-12)
    with pytest.raises(DataError, match="same d"):
        evaluation.pca_2d(real, fake[:, :3])


# ----------------------------------------------------------------------------- why FIDs disagree

def test_the_same_samples_read_differently_under_two_resizes():
    configs = [(CLASSIFIER, "pil-bicubic"), (CLASSIFIER, "native")]
    found = evaluation.disagreement("mnist-dcgan", n=40, n_reference=60, configs=configs)
    labels = [row["label"] for row in found["rows"]]
    assert labels == [f"{CLASSIFIER}@28px/pil-bicubic", f"{CLASSIFIER}@28px/bilinear-aa"]
    first, second = (row["fid"] for row in found["rows"])
    assert first > 0 and second > 0 and abs(first - second) > 0.01 * max(first, second)
    assert "The same 40 samples against the same 60 real images" in found["sentence"]


# ----------------------------------------------------------------------------- studio.api

def test_api_evaluate_returns_the_table_and_checks_its_arguments():
    result = api.evaluate("mnist-dcgan, mnist-wgangp", 60, CLASSIFIER, 1)
    assert [r["model"] for r in result.table][::7] == ["mnist-dcgan", "mnist-wgangp"]
    fid = next(r for r in result.table if r["model"] == "mnist-wgangp" and r["key"] == "fid")
    assert fid["low"] <= fid["value"] <= fid["high"] and fid["n"] == 60
    assert fid["value"] == result.results[1]["metrics"]["fid"]["value"]
    assert len(result.chart.data) == 14 and any("biased upward" in note for note in result.notes)
    with pytest.raises(CheckpointError, match="unknown model 'no-such-model'"):
        api.evaluate("no-such-model")
    with pytest.raises(CheckpointError, match="translation model"):
        api.evaluate("maps-pix2pix")
    with pytest.raises(DataError, match="N must be a whole number from 20"):
        api.evaluate("mnist-dcgan", 5)
    with pytest.raises(DataError, match="unknown feature extractor 'resnet'"):
        api.evaluate("mnist-dcgan", 60, "resnet")
    with pytest.raises(DataError, match="1 to 4 checkpoints"):
        api.evaluate("mnist-dcgan, mnist-cgan, mnist-wgangp, faces-dcgan, huggan-dcgan-mnist")


# ----------------------------------------------------------------------------- the page

def test_pages_are_listed_in_number_order_so_10_follows_9(tmp_path):
    tree = ast.parse(APP.read_text())
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "numbered_pages"]
    namespace = {"PAGES_DIR": tmp_path}
    exec(compile(ast.Module(body=functions, type_ignores=[]), "app.py", "exec"), namespace)
    for name in ("10_Evaluation.py", "9_GAN_augmentation.py", "2_Truncation_trick.py", "_shared.py"):
        (tmp_path / name).touch()
    assert [p.name for p in namespace["numbered_pages"]()] == ["2_Truncation_trick.py", "9_GAN_augmentation.py",
                                                               "10_Evaluation.py"]


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.query_params.update(query or {})
    at.run()
    at.switch_page(PAGE)
    return at.run()


def test_page_shows_the_metrics_table_and_every_chart():
    at = open_page({"n": "100"})
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    expected = api.evaluate("mnist-dcgan", 100, "", 0)
    assert list(table["model"]) == ["mnist-dcgan"] * 7
    assert np.allclose(table["value"], [row["value"] for row in expected.table], rtol=1e-6)  # thread counts differ
    assert table["extractor"][0] == f"{CLASSIFIER}@28px/pil-bicubic"
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # metrics, FID against N, truncation sweep, features in 2-d
    assert any("FID∞" in m.value for m in at.markdown)
    assert any("biased upward" in c.value for c in at.caption)
    assert any(m.value == "**The idea**" for m in at.markdown)


def test_page_reports_an_unknown_checkpoint_and_a_bad_link_without_a_traceback():
    at = open_page({"n": "100", "models": "mnist-dcgan,no-such-model", "seed": "-3"})
    assert not at.exception
    assert any("Ignored link values" in w.value and "no-such-model" in w.value for w in at.warning)
    at.text_input(key="eval_extra").set_value("no-such-model").run()
    assert not at.exception
    assert any("unknown model 'no-such-model'" in e.value for e in at.error)
    assert not at.get("plotly_chart")  # nothing half-computed below the error
