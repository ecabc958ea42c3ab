"""Every odd upload through every upload path: a usable result or a clear refusal, in time.

The cases and the per-path runners live in tests/odd_inputs.py: the Streamlit pages' upload paths and
the Gradio endpoints that take files (/load's checkpoint, /translate's image). Each case x path asserts: a result the user can use, or a DataError / CheckpointError
with a message, never another exception, and an answer within odd_inputs.CASE_TIMEOUT_S. Real
pictures must be translated and trained on, real checkpoints loaded: refusing them is a failure too.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from studio.errors import CheckpointError, DataError
import odd_inputs
from odd_inputs import CASES, CHECKPOINT_PATHS, CHECKPOINT_PATHS_BY_NAME, IMAGE_PATHS, RUNNERS, run_case


def test_the_list_is_long_and_named_uniquely():
    assert len(CASES) >= 50
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("path", list(RUNNERS))
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_odd_input(case, path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a pickle that ran code would leave its file here
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the checkpoint uploader's private folder
    result = run_case(RUNNERS[path], case, tmp_path)
    refused = isinstance(result, (DataError, CheckpointError))
    assert not Path("ODD_INPUT_PICKLE_RAN").exists(), "an uploaded pickle ran code"
    if path in IMAGE_PATHS:
        assert not isinstance(result, CheckpointError), result
        if case.image or (case.trainable and path == "training-zip"):
            assert not refused, f"{case.name} is a good picture, but {path} refused it: {result}"
    if path in CHECKPOINT_PATHS:
        assert not isinstance(result, DataError), result
        if case.checkpoint and path in CHECKPOINT_PATHS_BY_NAME:  # renamed, a .pth is no safetensors file: either
            assert not refused, f"{case.name} is a real checkpoint, but {path} refused it: {result}"


def test_the_harness_fails_a_hang_and_a_crash_and_passes_a_refusal(tmp_path):
    case = CASES[0]
    never = threading.Event()

    def hangs(case, workdir):
        never.wait()

    def crashes(case, workdir):
        raise RuntimeError("Padding size should be less than the corresponding input dimension")

    def refuses(case, workdir):
        raise DataError("the upload is not an image (expected PNG, JPEG, ...)")

    with pytest.raises(odd_inputs.CaseFailed, match="no answer within"):
        run_case(hangs, case, tmp_path, timeout=0.2)
    never.set()
    with pytest.raises(odd_inputs.CaseFailed, match="RuntimeError: Padding size"):
        run_case(crashes, case, tmp_path)
    assert isinstance(run_case(refuses, case, tmp_path), DataError)
