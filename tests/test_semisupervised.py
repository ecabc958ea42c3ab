"""The K+1-class semi-supervised GAN (studio.apply.semisupervised) at tiny sizes: each loss pulls
the way Salimans et al. 2016 say, a tiny experiment runs, bad settings are refused, the API
endpoint checks its arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from studio import api, apply
from studio.apply import fewshot, jobs
from studio.apply import semisupervised as sgan
from studio.errors import DataError


@pytest.fixture(autouse=True)
def one_thread():
    """Networks this small run ~10x faster on one thread than on two busy cores (as the servers run)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny(seed=0, **kw) -> sgan.SemiSupervisedGAN:
    return sgan.SemiSupervisedGAN(seed, hidden=(32,), g_hidden=32, **kw)


def test_real_probability_is_z_over_z_plus_one():
    logits = torch.tensor([[0.0, math.log(3.0)], [-20.0, -20.0]])
    z = torch.exp(logits).sum(1)
    assert torch.allclose(sgan.real_probability(logits), z / (z + 1))
    assert sgan.real_probability(logits)[0] == pytest.approx(0.8)  # Z = 1 + 3 = 4 -> 4 / 5


def test_unsupervised_loss_is_the_gan_loss_of_d_equals_z_over_z_plus_one():
    real, fake = torch.randn(5, 10), torch.randn(7, 10)
    d_real, d_fake = sgan.real_probability(real), sgan.real_probability(fake)
    expected = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
    assert sgan.unsupervised_loss(real, fake) == pytest.approx(float(expected), rel=1e-5)


@torch.no_grad()
def eval_logits(gan, x):
    return gan.discriminator.eval()(x)


def test_a_labelled_step_raises_the_right_class():
    """Direction of learning: one D step on labelled digits raises each digit's own class logit
    relative to the others (its log-probability)."""
    x, y = fewshot.few_labels(2, seed=0)
    gan = tiny(lr=1e-2, unsup_weight=0.0)
    before = torch.log_softmax(eval_logits(gan, x), 1)[torch.arange(len(y)), y]
    logit_before = eval_logits(gan, x)[torch.arange(len(y)), y]
    for _ in range(3):
        gan.d_step(x, y, None)
    after = torch.log_softmax(eval_logits(gan, x), 1)[torch.arange(len(y)), y]
    logit_after = eval_logits(gan, x)[torch.arange(len(y)), y]
    assert after.mean() > before.mean() + 0.1
    assert (after > before).float().mean() > 0.8
    assert logit_after.mean() > logit_before.mean()


def test_an_unlabelled_step_raises_d_on_real_and_lowers_it_on_generated():
    """Direction of learning, d_step itself: D(x) on unlabelled real digits rises, on the generator's digits it falls."""
    x, y = fewshot.few_labels(2, seed=0)
    unlabelled, _ = fewshot.digits("train")
    real = unlabelled[:64]
    gan = tiny(lr=1e-2, unsup_weight=5.0)
    gan.generator.eval()
    with torch.no_grad():
        fake = gan.generator(gan.latent(256))
    d_real0 = sgan.real_probability(eval_logits(gan, real)).mean()
    d_fake0 = sgan.real_probability(eval_logits(gan, fake)).mean()
    for _ in range(5):
        gan.d_step(x, y, real)
    d_real1 = sgan.real_probability(eval_logits(gan, real)).mean()
    d_fake1 = sgan.real_probability(eval_logits(gan, fake)).mean()
    assert d_real1 > d_real0 + 0.02
    assert d_fake1 < d_fake0 - 0.02


def test_a_generator_step_lowers_the_feature_matching_loss():
    unlabelled, _ = fewshot.digits("train")
    real = unlabelled[:128]
    gan = tiny(lr=1e-2)

    def fm_loss():
        d, g = gan.discriminator.eval(), gan.generator.eval()
        with torch.no_grad():
            gan.noise.manual_seed(3)
            return float(sgan.feature_matching_loss(d.features(real), d.features(g(gan.latent(128)))))

    before = fm_loss()
    d_before = {k: v.clone() for k, v in gan.discriminator.state_dict().items()}
    for _ in range(5):
        gan.g_step(real)
    assert fm_loss() < 0.8 * before
    for key, value in gan.discriminator.state_dict().items():  # the G step leaves D alone
        assert torch.equal(value, d_before[key]), key


def test_a_tiny_experiment_reports_accuracy_per_condition_k_and_seed():
    progress = []
    result = apply.run_semisupervised(ks=[2], seeds=2, steps=30, batch_size=16, hidden=(32,), g_hidden=32,
                                      unlabelled=200, reference=False, progress=lambda f, m: progress.append(f))
    assert {(r["condition"], r["k"], r["seed"]) for r in result["rows"]} == {
        (c, 2, s) for c in apply.SGAN_CONDITIONS for s in range(2)}
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in result["rows"])
    assert np.mean([r["accuracy"] for r in result["rows"]]) > 0.2  # above chance (0.1) after 30 steps
    for row in result["summary"]:
        assert row["n"] == 2 and row["mean"] == pytest.approx(np.mean(row["values"]))
    assert result["settings"]["unlabelled"] == 200 and result["reference"] is None
    assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)
    figure = apply.semisupervised_chart(result)
    assert len(figure.data) == 2 and figure.data[0].error_y.array is not None
    verdict = apply.semisupervised_verdict(result)
    assert "K = 2 per class" in verdict and "K+1-class GAN" in verdict


def test_only_the_gan_condition_sees_unlabelled_digits(monkeypatch):
    """The baseline is the same discriminator on the labels alone: no unlabelled pool, no generator
    update; the K+1 GAN gets the whole pool."""
    calls = []
    real_train = sgan.train_sgan

    def spy(x_lab, y_lab, unlabelled, **kw):
        gan = real_train(x_lab, y_lab, unlabelled, **kw)
        calls.append((None if unlabelled is None else len(unlabelled), len(y_lab), gan))
        return gan

    monkeypatch.setattr(sgan, "train_sgan", spy)
    apply.run_semisupervised(ks=[3], seeds=1, steps=5, batch_size=8, hidden=(16,), g_hidden=16, unlabelled=50,
                             reference=False)
    (gan_pool, gan_labels, gan), (sup_pool, sup_labels, sup) = calls
    assert gan_pool == 50 and sup_pool is None and gan_labels == sup_labels == 30
    fresh = sgan.SemiSupervisedGAN(0, hidden=(16,), g_hidden=16).generator.state_dict()
    assert all(torch.equal(v, sup.generator.state_dict()[k]) for k, v in fresh.items())  # G never stepped
    assert not all(torch.equal(v, gan.generator.state_dict()[k]) for k, v in fresh.items())


def test_bad_settings_are_refused():
    with pytest.raises(DataError, match="conditions"):
        apply.run_semisupervised(conditions=["magic"])
    with pytest.raises(DataError, match="seeds"):
        apply.run_semisupervised(seeds=0)
    with pytest.raises(DataError, match="K values"):
        apply.run_semisupervised(ks=[0])
    with pytest.raises(DataError, match="steps"):
        apply.run_semisupervised(steps=0)


def test_api_checks_its_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_CACHE", str(tmp_path))
    for ks in ("7", "10, 20", "", "ten"):
        with pytest.raises(DataError, match="ks|K"):
            api.semisupervised(ks=ks)
    for seeds in (0, 6, "many", 2.5):
        with pytest.raises(DataError, match="seeds"):
            api.semisupervised(seeds=seeds)
    with pytest.raises(DataError, match="steps"):
        api.semisupervised(steps=5)
    with pytest.raises(DataError, match="unsup_weight"):
        api.semisupervised(unsup_weight=-1)


def test_api_runs_the_background_job_and_finds_it_again(tmp_path, monkeypatch):
    """/semisupervised in-process with a fast stand-in runner: the settings reach the job, the
    answer carries the summary and verdict, and a second call finds the same job."""
    monkeypatch.setenv("GAN_STUDIO_CACHE", str(tmp_path))
    jobs._JOBS.clear()
    seen = []

    def runner(progress, **settings):
        seen.append(settings)
        return apply.run_semisupervised(**settings, batch_size=8, hidden=(16,), g_hidden=16, unlabelled=100,
                                        reference=False, progress=progress)

    monkeypatch.setattr(jobs, "_runner", lambda kind: runner)
    try:
        first = api.semisupervised(ks="10", seeds=1, steps=10, wait_s=120)
        assert first["status"] == "done" and first["kind"] == "semisupervised"
        assert seen == [{"ks": [10], "seeds": 1, "steps": 10}]
        assert {r["condition"] for r in first["summary"]} == set(apply.SGAN_CONDITIONS)
        assert "K = 10 per class" in first["verdict"]
        again = api.semisupervised(ks="10", seeds=1, steps=10, wait_s=120)
        assert again["summary"] == first["summary"] and len(seen) == 1
        assert api.experiment_chart(first) is not None
    finally:
        jobs._JOBS.clear()
