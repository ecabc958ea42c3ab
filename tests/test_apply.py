"""studio.apply at tiny sizes: IoU against a hand computation, the segmentation step learns, the
augmented classifier trains, the transfer head leaves the frozen body alone, intervals, jobs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from studio import apply
from studio.apply import fewshot, jobs, transfer
from studio.apply.segmentation import confusion, iou_from_confusion, segmentation_report
from studio.data.maps import MAP_CLASSES, MapsSegmentation, class_colours, map_classes
from studio.errors import DataError
from studio.models import DCGAN, UNet


def test_iou_equals_a_hand_computation():
    truth = np.array([[0, 0, 1], [1, 2, 2]])
    predicted = np.array([[0, 1, 1], [1, 2, 0]])
    # class 0: hits 1, true 2, predicted 2 -> 1 / 3; class 1: hits 2, true 2, predicted 3 -> 2 / 3;
    # class 2: hits 1, true 2, predicted 1 -> 1 / 2; class 3: nowhere -> NaN
    matrix = confusion(predicted, truth, 4)
    assert matrix[0, 1] == 1 and matrix[2, 0] == 1 and matrix.sum() == 6
    iou = iou_from_confusion(matrix)
    assert iou[:3] == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert math.isnan(iou[3])
    report = segmentation_report(matrix, ["a", "b", "c", "d"])
    assert report["mean_iou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert report["pixel_accuracy"] == pytest.approx(4 / 6)
    assert set(report["class_iou"]) == {"a", "b", "c"}


def test_confusion_refuses_bad_labels():
    with pytest.raises(DataError, match="shape"):
        confusion(np.zeros((2, 2)), np.zeros((2, 3)), 3)
    with pytest.raises(DataError, match="0..2"):
        confusion(np.array([3]), np.array([0]), 3)


def test_segmentation_labels_are_the_exact_map_classes():
    tiles = MapsSegmentation(n=2, image_size=64, split="test")
    image, classes = tiles[1]
    assert image.shape == (3, 64, 64) and classes.shape == (64, 64) and classes.dtype == torch.int64
    assert np.array_equal(classes.numpy(), map_classes(tiles.pair(1)[1]))
    assert np.array_equal(class_colours(classes), tiles.pair(1)[1])  # classes redraw the map exactly
    assert tiles.classes == list(MAP_CLASSES)
    with pytest.raises(DataError):
        class_colours(np.array([[len(MAP_CLASSES)]]))


def test_unet_segmentation_step_learns_a_tile():
    """Direction of learning: the engine's U-Net step lowers the per-pixel loss on its tiles."""
    from training.loop import Trainer
    from training.recipes import apply_overrides, get_recipe

    recipe = apply_overrides(get_recipe("maps-unet"), ["data_count=4", "batch_size=4", "steps=30", "sample_every=0",
                                                        "model.width=4", "model.depth=2", "lr=0.01", "lr_decay=0",
                                                        "pair_augment=false"])
    trainer = Trainer(recipe, run=None)
    first = trainer.train_step()["loss"]
    for _ in range(29):
        last = trainer.train_step()
    assert last["loss"] < 0.7 * first
    assert last["pixel_accuracy"] > 0.4
    assert trainer.model.num_classes == len(MAP_CLASSES)


def test_segment_tile_scores_a_perfect_model_at_one():
    class Oracle(UNet):
        def segment(self, x):
            return torch.from_numpy(np.stack([map_classes(self.maps[0])]))

    oracle = Oracle(num_classes=8, width=2, depth=1, image_size=64)
    oracle.maps = [MapsSegmentation(n=4, image_size=64, split="test").pair(3)[1]]
    shown = apply.segment_tile(oracle, 3)
    assert shown["unet"]["mean_iou"] == pytest.approx(1.0)
    assert np.array_equal(shown["predicted"], shown["truth"])
    with pytest.raises(DataError):
        apply.segment_tile(oracle, -1)


def test_few_labels_takes_k_of_each_class():
    x, y = fewshot.few_labels(3, seed=5)
    assert x.shape == (30, 1, 28, 28) and torch.bincount(y).tolist() == [3] * 10
    assert torch.equal(fewshot.few_labels(3, seed=5)[0], x)  # the seed decides
    assert not torch.equal(fewshot.few_labels(3, seed=6)[0], x)
    with pytest.raises(DataError):
        fewshot.few_labels(0, seed=0)


def test_classic_augment_moves_digits_but_keeps_the_background():
    x, _ = fewshot.few_labels(1, seed=0)
    moved = fewshot.classic_augment(x, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape
    assert (moved - x).abs().mean() > 0.05
    assert moved[:, :, 0, 0].mean() == pytest.approx(-1, abs=0.05)  # corners stay black


def test_interval_is_the_student_t_interval():
    mean, half = fewshot.interval([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9)
    assert half == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)  # t_{0.975, 2} * sd / sqrt(n)
    assert fewshot.interval([0.5]) == (0.5, 0.0)


class TinyCGAN(torch.nn.Module):
    """A 'generator' that returns the class means of real digits: labelled, realistic enough."""

    image_size, device, num_classes = 28, torch.device("cpu"), 10

    def __init__(self):
        super().__init__()
        x, y = fewshot.digits("train")
        self.means = torch.stack([x[y == c][:50].mean(0) for c in range(10)])

    def sample_latent(self, n, seed):
        return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))

    def generate(self, z, labels):
        return self.means[labels] + 0.05 * z[:, :1, None, None]


def test_augmented_classifier_trains_and_reports_every_condition():
    result = apply.run_augmentation(TinyCGAN(), ks=[3], seeds=2, steps=40, batch_size=16, width=8, pool=5)
    assert {(r["condition"], r["seed"]) for r in result["rows"]} == {(c, s) for c in apply.AUGMENT_CONDITIONS
                                                                     for s in range(2)}
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in result["rows"])
    for row in result["summary"]:
        assert row["n"] == 2 and row["mean"] == pytest.approx(np.mean(row["values"]))
    assert np.mean([r["accuracy"] for r in result["rows"]]) > 0.3  # well above chance (0.1) after 40 steps
    figure = apply.augmentation_chart(result)
    assert len(figure.data) == 4 and figure.data[0].error_y.array is not None
    assert "K = 3" in apply.augmentation_verdict(result)
    with pytest.raises(DataError):
        apply.run_augmentation(TinyCGAN(), conditions=["magic"])


def test_cgan_samples_reach_the_batch():
    """With ratio r, each batch holds round(r * B) pool images: a pool of one wrong label per class
    drags accuracy down, so the extra images are really trained on."""
    x, y = fewshot.few_labels(5, seed=0)
    test_x, test_y = fewshot.digits("test")
    torch.manual_seed(0)
    plain = fewshot.train_classifier(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)), x, y,
                                     steps=60, seed=0, batch_size=16)
    torch.manual_seed(0)
    poisoned = fewshot.train_classifier(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)), x, y,
                                        steps=60, seed=0, batch_size=16, extra=(x, (y + 1) % 10), ratio=4.0)
    assert fewshot.accuracy(poisoned, test_x, test_y) < fewshot.accuracy(plain, test_x, test_y) - 0.2


def test_transfer_head_freezes_the_body():
    torch.manual_seed(0)
    gan = DCGAN(latent_dim=8, image_size=32, channels=1, width=8, disc_width=8)
    model = transfer.transfer_model(gan, frozen=True)
    body_before = {k: v.clone() for k, v in model[0].state_dict().items()}
    head_before = model[1].weight.clone()
    x, y = fewshot.few_labels(2, seed=0)
    fewshot.train_classifier(model, x, y, steps=5, seed=0, batch_size=8, params=transfer.trainable_parameters(model))
    for key, value in model[0].state_dict().items():  # weights and BatchNorm running statistics
        assert torch.equal(value, body_before[key]), key
    assert not torch.equal(model[1].weight, head_before)
    assert all(not p.requires_grad for p in model[0].parameters())
    model.train()
    assert not model[0].body.training  # BatchNorm stays in eval mode inside a training model
    scratch = transfer.transfer_model(gan, frozen=False)
    assert all(p.requires_grad for p in scratch.parameters())
    # from scratch is a fresh copy: the GAN's own discriminator is untouched and differs
    assert not torch.equal(scratch[0].body[0].weight, gan.discriminator.main[0].weight)


def test_run_transfer_compares_both_conditions():
    torch.manual_seed(0)
    gan = DCGAN(latent_dim=8, image_size=32, channels=1, width=8, disc_width=8)
    result = apply.run_transfer(gan, ks=[2], seeds=1, steps=10, batch_size=8, reference=False)
    assert {r["condition"] for r in result["rows"]} == set(apply.TRANSFER_CONDITIONS)
    assert result["reference"] is None
    assert "K = 2" in apply.transfer_verdict(result)


def test_jobs_run_in_the_background_and_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_CACHE", str(tmp_path))
    calls = []

    def runner(ks, progress):
        calls.append(ks)
        progress(0.5, "half way")
        return {"rows": [], "summary": [], "settings": {"ks": ks}}

    job = jobs.start_job("augmentation", {"ks": [7]}, runner=runner)
    assert job.wait(30).status == "done" and job.result["settings"] == {"ks": [7]}
    assert jobs.start_job("augmentation", {"ks": [7]}, runner=runner) is job  # found, not rerun
    jobs._JOBS.clear()  # a fresh server process: the disk cache answers
    again = jobs.get_job("augmentation", {"ks": [7]})
    assert again.cached and again.result == job.result and len(calls) == 1
    stored = json.loads((tmp_path / "apply" / f"{job.key}.json").read_text())
    assert stored["settings"] == {"ks": [7]}

    def broken(ks, progress):
        raise ValueError("no digits")

    failed = jobs.start_job("augmentation", {"ks": [8]}, runner=broken).wait(30)
    assert failed.status == "failed" and "no digits" in failed.error
    assert jobs.get_job("augmentation", {"ks": [8]}) is None  # a failure is not cached
    with pytest.raises(DataError):
        jobs.start_job("nonsense", {})
