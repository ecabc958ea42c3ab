"""studio.audit.bias: fairness numbers against a hand computation, latent pairing, implicit associations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.audit import bias
from studio.data.faces import WORLDS
from studio.errors import DataError
from studio.explore import editing
from studio.models import DCGAN

# a small table: group 0 has 4 faces, group 1 has 4
Y_TRUE = [1, 1, 0, 0, 1, 1, 0, 0]
Y_PRED = [1, 1, 0, 1, 1, 0, 1, 0]  # one false positive in each group
GROUPS = [0, 0, 0, 0, 1, 1, 1, 1]


def test_fairness_numbers_equal_a_hand_computation():
    numbers = bias.fairness_numbers(Y_TRUE, Y_PRED, GROUPS)
    # group 0: selection 3/4, TPR 2/2, FPR 1/2, accuracy 3/4; group 1: selection 2/4, TPR 1/2, FPR 1/2, accuracy 2/4
    assert numbers["accuracy"] == pytest.approx(5 / 8)
    assert numbers["demographic_parity_difference"] == pytest.approx(3 / 4 - 2 / 4)
    assert numbers["equal_opportunity_difference"] == pytest.approx(1 - 1 / 2)  # TPRs differ ...
    assert numbers["equalized_odds_difference"] == pytest.approx(max(1 - 1 / 2, 1 / 2 - 1 / 2))  # ... FPRs do not
    assert numbers["by_group"]["1"]["accuracy"] == pytest.approx(2 / 4)
    assert numbers["by_group"]["0"]["tpr"] == pytest.approx(1.0) and numbers["by_group"]["1"]["fpr"] == 0.5


def test_bootstrap_intervals_contain_the_estimate():
    rng = np.random.default_rng(0)
    groups = rng.integers(2, size=400)
    y_true = rng.integers(2, size=400)
    y_pred = np.where(rng.random(400) < 0.8 + 0.1 * groups, y_true, 1 - y_true)
    report = bias.fairness_report(y_true, y_pred, groups, n_boot=100)
    for name in bias.FAIRNESS_METRICS:
        low, high = report["interval"][name]
        assert low <= report[name] <= high and high - low < 0.3, name


def test_fairness_refuses_bad_tables():
    with pytest.raises(DataError, match="two groups"):
        bias.fairness_numbers([1, 0], [1, 0], [0, 0])
    with pytest.raises(DataError, match="equally long"):
        bias.fairness_numbers([1, 0], [1], [0, 1])


def test_paired_latents_keep_the_target_and_mirror_the_protected_score():
    rng = np.random.default_rng(1)
    z, w_t, w_g = rng.normal(size=(50, 8)), rng.normal(size=8), rng.normal(size=8)
    paired = bias.pair_latents(z, w_t, w_g, b_g=0.3)
    assert np.allclose(paired @ w_t, z @ w_t)
    assert np.allclose(paired @ w_g + 0.3, -(z @ w_g + 0.3))


class LinearJudge(torch.nn.Module):
    multilabel, channels, image_size, num_classes = True, 3, 32, 5

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.read = torch.nn.Linear(3 * 32 * 32, 5, bias=False)

    def forward(self, x):
        return self.read(x.flatten(1)) * 50


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    generator = DCGAN(latent_dim=8, image_size=32, channels=3, width=4).eval()
    for weight in generator.generator.parameters():
        if weight.dim() > 1:
            torch.nn.init.normal_(weight, 0.0, 0.5)
    return generator, editing.make_judge(LinearJudge(), {"class_names": ["hat", "glasses", "smiling", "beard", "dark_skin"]})


def test_implicit_associations_rank_by_covariance_and_show_the_world(tiny):
    generator, judge = tiny
    result = bias.implicit_associations(generator, judge, "hat", n=16, steps=3, world=WORLDS["biased"])
    assert result["delta_target"].shape == (32,)
    assert (result["delta_target"][:16] >= 0).mean() > 0.5 and (result["delta_target"][16:] <= 0).mean() > 0.5
    covariance = result["covariance"]
    assert [abs(covariance[name]) for name in result["ranking"]] == sorted(map(abs, covariance.values()), reverse=True)
    assert result["true_correlation"]["glasses"] == pytest.approx(WORLDS["biased"].correlation("hat", "glasses"))
    line = result["regression"]["glasses"]
    assert (line["low"] <= line["fit"] + 1e-12).all() and (line["fit"] <= line["high"] + 1e-12).all()
    x, y = result["delta_target"], result["delta"]["glasses"]
    assert line["slope"] == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("kwargs, message", [({"n": 4}, "N must be"), ({"n": 5000}, "N must be"),
                                             ({"steps": 0}, "K must be"), ({"steps": 500}, "K must be")])
def test_n_and_k_out_of_range_are_refused(tiny, kwargs, message):
    generator, judge = tiny
    with pytest.raises(DataError, match=message):
        bias.implicit_associations(generator, judge, "hat", **kwargs)
    with pytest.raises(DataError, match="unknown attribute"):
        bias.implicit_associations(generator, judge, "crown")


def test_the_audit_default_inherits_the_bias_and_de_biasing_with_it_narrows_the_gap():
    """Why the bias-audit page starts on faces-dcgan-sharp (README figures): its samples keep the world's
    hat-glasses link, and training the smiling classifier on biased faces plus its Ramaswamy pairs
    narrows the equal-opportunity gap between skin groups beyond the biased-only interval's centre."""
    from studio import api

    assert api.DEFAULT_AUDIT_MODEL == "faces-dcgan-sharp"
    audit = api.bias_audit(n=64, k=3, fairness=True)  # the default model
    glasses = next(row for row in audit.table if row["attribute"] == "glasses")
    assert glasses["GAN samples correlation"] > 0.5 and audit.table[0]["attribute"] == "glasses"
    biased, paired = audit.fairness["biased data"], audit.fairness["biased + GAN pairs"]
    gap = "equal_opportunity_difference"
    assert paired[gap] < biased[gap] - 0.03 and paired["interval"][gap][1] < biased[gap]
