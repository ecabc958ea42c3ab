"""/edit and /bias_audit: in process through studio.api, and over HTTP through gradio_client on the real
server harness of test_gradio_app.py (its fixtures, imported)."""

from __future__ import annotations

import numpy as np
import pytest

from studio import api, checkpoints
from studio.errors import CheckpointError, DataError
from test_gradio_app import app_error, client, one_thread, pixels, runs_root, server  # noqa: F401 - fixtures


def test_api_edit_makes_a_3_and_checks_its_arguments():
    # 12 steps: the deeper mnist-dcgan of stop 29 moves less per step (6 steps flipped 3 of 8 seeds)
    result = api.edit("mnist-dcgan", 1, "3", "add", "gradient", 12, 1.0, 0.0, "", True)
    assert result.rates["seeds"] == 8 and result.rates["success"] >= 0.5
    assert result.strips.shape[0] > 8 * 32  # eight rows
    with pytest.raises(DataError, match="unknown attribute 'hat'"):
        api.edit("mnist-dcgan", 0, "hat")
    with pytest.raises(DataError, match="direction"):
        api.edit("mnist-dcgan", 0, "3", "sideways")
    with pytest.raises(DataError, match="steps"):
        api.edit("mnist-dcgan", 0, "3", "add", "gradient", 500)
    with pytest.raises(CheckpointError, match="no latent"):
        api.edit("mnist-classifier", 0, "3")
    with pytest.raises(CheckpointError, match="no latent"):
        api.edit("horse2zebra-cyclegan", 0, "3")
    with pytest.raises(CheckpointError, match="no classifier fits"):  # a GAN of another data set
        api.edit_models(checkpoints.Loaded(api.load_model("mnist-dcgan")[1].model, {"dataset": "cars"}))


def test_api_bias_audit_refuses_what_it_cannot_audit():
    with pytest.raises(DataError, match="multi-label"):
        api.bias_audit("mnist-dcgan")
    with pytest.raises(DataError, match="N must be"):
        api.bias_audit("mnist-dcgan", "hat", 5000)


def test_edit_endpoint_equals_the_studio(client):  # noqa: F811
    before, after, strip, gif, chart, rates = client.predict("mnist-dcgan", 1, "3", "add", "gradient", 5, 1.0, 0.0,
                                                             "", False, api_name="/edit")
    expected = api.edit("mnist-dcgan", 1, "3", "add", "gradient", 5, 1.0, 0.0, "", False)
    assert np.array_equal(pixels(after)[..., 0], expected.after[..., 0])
    assert rates["success"] == expected.rates["success"]
    assert "multi-label" in app_error(client, "/bias_audit", "mnist-dcgan")
