"""The style-mixing page (AppTest), W truncation on the truncation page, and /style_mix,
/w_truncation and /stochastic_variation in process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest
from support import RecordingStorage, isolate_studio

from app_pages import _shared as shared
from studio import api, checkpoints
from studio.errors import CheckpointError, DataError
from studio.explore import mixing
from studio.models import DCGAN, StyleGAN

APP = Path(__file__).resolve().parent.parent / "app.py"
PAGE = "app_pages/5_Style_mixing.py"
TRUNCATION = "app_pages/2_Truncation_trick.py"


@pytest.fixture
def stylegan_env(tmp_path, monkeypatch):
    """A zoo with a tiny (untrained) StyleGAN at 16 px and a tiny DCGAN."""
    torch.manual_seed(0)
    model = StyleGAN(latent_dim=8, w_dim=8, mapping_layers=2, image_size=16, channels=1, width=8, disc_width=8).eval()
    with torch.no_grad():
        model.w_avg.normal_()
        for layer in model.synthesis_network.layers:
            layer.noise_strength.fill_(0.5)
    root = tmp_path / "zoo"
    checkpoints.save(model, root / "tiny-stylegan", metadata={"title": "Tiny stylegan", "dataset": "mnist"})
    checkpoints.save(DCGAN(latent_dim=8, image_size=28, channels=1, width=4).eval(), root / "tiny-dcgan",
                     metadata={"title": "Tiny dcgan", "dataset": "mnist"})
    zoo_file = root / "zoo.toml"
    zoo_file.write_text("".join(
        f'[[checkpoint]]\nname = "tiny-{name}"\ntitle = "Tiny {name}"\nfamily = "{name}"\n'
        f'task = "unconditional"\nsource = "tiny-{name}"\ndataset = "mnist"\nlicense = "MIT"\n\n'
        for name in ("stylegan", "dcgan")))
    isolate_studio(monkeypatch, tmp_path, zoo_file)
    monkeypatch.setenv("GAN_STUDIO_THREADS", str(torch.get_num_threads()))
    return model


def start(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(query or {})
    return at.run()


def pixels(at: AppTest, index: int) -> np.ndarray:
    url = at.image[index].value[0]
    file_id = url.rsplit("/", 1)[1].split(".")[0]
    return np.asarray(Image.open(io.BytesIO(RecordingStorage.files[file_id])))


def shrink(shown: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A displayed (scaled-up, pixelated) grayscale image back at the grid's size."""
    image = Image.fromarray(shown.squeeze()).resize((grid.shape[1], grid.shape[0]), Image.NEAREST)
    return np.asarray(image).reshape(grid.shape[:2])


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_the_page_draws_the_matrix_and_the_crossover_changes_it(stylegan_env):
    at = start({"checkpoint": "tiny-stylegan"})
    at.switch_page(PAGE).run()
    no_exception(at)
    # matrix, W truncation, z truncation, 16 noise draws, std map
    assert len(at.image) == 5
    coarse = pixels(at, 0)
    caption = at.image[0].captions[0]
    assert "layers [0, 1, 2, 3]" in caption and "4x4, 8x8" in caption
    at.segmented_control(key="mix_crossover").set_value("fine").run()
    no_exception(at)
    assert "layers [4, 5]" in at.image[0].captions[0]
    assert not np.array_equal(coarse, pixels(at, 0))
    assert at.query_params["crossover"] == "fine"
    at.text_input(key="mix_columns").set_value("0,1,x").run()  # a bad seed list: an error, no crash
    no_exception(at)
    assert "Seeds" in at.error[0].value


def test_the_z_grid_shows_the_same_seeds_as_the_w_grid(stylegan_env):
    """Both truncation panels draw seeds s .. s+15: untruncated, the z grid is the W grid at psi 1."""
    from studio import imaging

    at = start({"checkpoint": "tiny-stylegan", "rows": "3"})
    at.switch_page(PAGE).run()
    no_exception(at)
    expected = imaging.grid(mixing.z_truncated(stylegan_env, 3, 0.7, n=16), nrow=4)
    assert np.array_equal(shrink(pixels(at, 2), expected), expected[..., 0]) and "seeds 3-18" in at.image[2].captions[0]
    assert np.array_equal(mixing.z_truncated(stylegan_env, 3, None), mixing.w_truncated(stylegan_env, 3, 1.0))
    assert not np.array_equal(mixing.z_truncated(stylegan_env, 3, 0.3), mixing.w_truncated(stylegan_env, 3, 1.0))
    at.switch_page(TRUNCATION).run()  # the truncation page's StyleGAN panel: the same pairing
    no_exception(at)
    expected = imaging.grid(mixing.z_truncated(stylegan_env, 0, 0.7, n=16), nrow=4)
    assert np.array_equal(shrink(pixels(at, len(at.image) - 1), expected), expected[..., 0])


def test_a_link_reproduces_the_matrix_and_the_recipe_json_matches_it(stylegan_env):
    query = {"checkpoint": "tiny-stylegan", "rows": "3,4", "columns": "5", "crossover": "custom", "resolutions": "16",
             "psi": "0.5", "cutoff": "2", "noise_mode": "random", "noise_seed": "7"}
    at = start(query)
    at.switch_page(PAGE).run()
    no_exception(at)
    shown = pixels(at, 0)
    recipe = mixing.MixRecipe("tiny-stylegan", mixing.weights_hash(stylegan_env), [3, 4], [5], [16], psi=0.5, cutoff=2,
                              noise_mode="random", noise_seed=7)
    grid = mixing.render_recipe(stylegan_env, recipe).grid()
    assert np.array_equal(shrink(shown, grid), grid[..., 0])
    assert "layers [4, 5]" in at.image[0].captions[0]


def test_w_truncation_controls_appear_on_the_truncation_page_for_a_stylegan(stylegan_env):
    at = start({"checkpoint": "tiny-stylegan"})
    at.switch_page(TRUNCATION).run()
    no_exception(at)
    w_grid_index = len(at.image) - 2
    before = pixels(at, w_grid_index)
    assert "w space" in at.image[w_grid_index].captions[0] and "z space" in at.image[-1].captions[0]
    at.slider(key="trunc_psi").set_value(0.0).run()
    no_exception(at)
    average = pixels(at, w_grid_index)
    assert not np.array_equal(before, average)
    from studio import imaging

    expected = imaging.grid(mixing.w_truncated(stylegan_env, 0, 0.0, None, n=16), nrow=4)  # 16 average images
    assert np.array_equal(shrink(average, expected), expected[..., 0])
    assert np.array_equal(expected[2:18, 2:18], expected[20:36, 20:36])


def test_a_dcgan_gives_way_to_the_zoos_stylegan_and_stays_loaded(stylegan_env):
    at = start({"checkpoint": "tiny-dcgan"})
    at.switch_page(PAGE).run()
    no_exception(at)
    assert any("does not fit this page, so it shows the bundled" in c.value for c in at.caption)
    assert at.image  # the matrix of the zoo's StyleGAN, drawn at once
    assert at.session_state[shared.CHECKPOINT] == "tiny-dcgan"  # the user's choice stays loaded


def test_with_no_stylegan_in_the_zoo_the_page_explains_what_it_needs(stylegan_env, tmp_path):
    zoo_file = tmp_path / "zoo" / "zoo.toml"
    zoo_file.write_text(zoo_file.read_text().split("[[checkpoint]]")[-1].join(["[[checkpoint]]", ""]))
    at = start({"checkpoint": "tiny-dcgan"})
    at.switch_page(PAGE).run()
    no_exception(at)
    assert "needs a StyleGAN" in at.info[0].value and not at.image


def test_style_mix_endpoint_in_process(stylegan_env):
    out = api.style_mix("tiny-stylegan", "0, 1", "2", "coarse", psi=1.0, cutoff=None)
    assert np.array_equal(out.grid, mixing.mixing_matrix(stylegan_env, [0, 1], [2], (4, 8)).grid())
    again = api.style_mix_recipe(out.recipe)
    assert np.array_equal(again.grid, out.grid)
    assert json.loads(out.recipe)["resolutions"] == [4, 8]
    assert np.array_equal(api.style_mix("tiny-stylegan", "0, 1", "2", "4, 8").grid, out.grid)
    with pytest.raises(DataError, match="no layers at"):
        api.style_mix("tiny-stylegan", "0", "1", "32")
    with pytest.raises(DataError, match="psi must be"):
        api.style_mix("tiny-stylegan", "0", "1", "fine", psi="lots")
    with pytest.raises(DataError, match="1 to 8 row seeds"):
        api.style_mix("tiny-stylegan", "", "1")
    with pytest.raises(DataError, match="needs a StyleGAN"):
        api.style_mix("tiny-dcgan")
    with pytest.raises(CheckpointError, match="unknown model"):
        api.style_mix("/etc/passwd")
    with pytest.raises(DataError, match="small JSON file"):
        api.style_mix_recipe(out.recipe + " " * api.MAX_RECIPE_BYTES)
    hostile = json.dumps({**json.loads(out.recipe), "model": "/etc/passwd"})
    with pytest.raises(CheckpointError, match="unknown model"):
        api.style_mix_recipe(hostile)



def test_w_truncation_and_stochastic_variation_endpoints_in_process(stylegan_env):
    from studio import imaging

    out = api.w_truncation("tiny-stylegan", seed=5, psi=0.5, cutoff=2, threshold=0.7)
    assert np.array_equal(out.w_grid, imaging.grid(mixing.w_truncated(stylegan_env, 5, 0.5, 2, n=16), nrow=4))
    assert np.array_equal(out.z_grid, imaging.grid(mixing.z_truncated(stylegan_env, 5, 0.7, n=16), nrow=4))
    assert "first 2 of 6 layers" in out.note and "seeds 5-20" in out.note
    same = api.w_truncation("tiny-stylegan", seed=5, psi=1.0, cutoff=-1, threshold=0)  # nothing truncated
    assert np.array_equal(same.w_grid, same.z_grid)
    for bad, match in (({"psi": 3}, "psi must be"), ({"cutoff": 9}, "cutoff"), ({"threshold": 5}, "truncation must be"),
                       ({"seed": -1}, "seed")):
        with pytest.raises(DataError, match=match):
            api.w_truncation("tiny-stylegan", **bad)

    out = api.stochastic_variation("tiny-stylegan", seed=2, noise_seed=4, noise_at="8, 16")
    expected = mixing.stochastic_variation(stylegan_env, 2, n=16, noise_seed=4, noise_resolutions=[8, 16])
    assert np.array_equal(out.draws, imaging.grid(expected.images, nrow=4))
    assert np.array_equal(out.std_map, mixing.std_image(expected.std)) and out.std_max == pytest.approx(expected.std.max())
    assert out.std_max > 0.01 and "8x8, 16x16" in out.note
    quiet = api.stochastic_variation("tiny-stylegan", seed=2, noise_seed=4, noise_at="none")  # one image 16 times
    assert quiet.std_max < 1e-6 and "no resolution" in quiet.note
    assert np.array_equal(api.stochastic_variation("tiny-stylegan", 2, 4, "all").draws,
                          imaging.grid(mixing.stochastic_variation(stylegan_env, 2, n=16, noise_seed=4).images, nrow=4))
    with pytest.raises(DataError, match="no layers at"):
        api.stochastic_variation("tiny-stylegan", noise_at="32")
    with pytest.raises(DataError, match="noise resolution"):
        api.stochastic_variation("tiny-stylegan", noise_at="fine grain")
    with pytest.raises(DataError, match="needs a StyleGAN"):
        api.stochastic_variation("tiny-dcgan")



def test_droplets_are_found_where_one_is_planted_and_nowhere_else(stylegan_env):
    """A spike planted in layer 4's constant noise (16x16, pixel (15, 0)) is a droplet there, in every
    sample; the same model without it has none. The endpoint and the page show the core's table."""
    peaks = mixing.adain_peaks(stylegan_env, n=16, seed=3)
    assert [p.resolution for p in peaks] == [4, 4, 8, 8, 16, 16] and not any(p.droplet for p in peaks)
    layer = stylegan_env.synthesis_network.layers[4]
    with torch.no_grad():
        layer.noise_const[0, 0, 15, 0] = 1000.0  # times noise_strength 0.5 on every channel
    planted = mixing.adain_peaks(stylegan_env, n=16, seed=3)
    assert [p.layer for p in planted if p.droplet] == [4]
    assert planted[4].hotspot == (15, 0) and planted[4].hotspot_share == 1.0 and planted[4].peak_ratio > 50
    assert "layer 4 (16x16)" in mixing.droplet_text(planted)


def test_droplets_endpoint_and_page_show_the_cores_table(stylegan_env):
    expected = mixing.adain_peaks(stylegan_env, n=16, seed=2)
    out = api.droplets("tiny-stylegan", n=16, seed=2)
    assert out.rows == mixing.droplet_rows(expected) and out.note == mixing.droplet_text(expected)
    assert list(out.rows[0]) == list(api.DROPLET_COLUMNS) and len(out.rows) == 6
    for bad, match in (({"n": 2}, "n must be"), ({"n": 10_000}, "n must be"), ({"seed": "x"}, "seed")):
        with pytest.raises(DataError, match=match):
            api.droplets("tiny-stylegan", **bad)
    with pytest.raises(DataError, match="needs a StyleGAN"):
        api.droplets("tiny-dcgan")
    at = start({"checkpoint": "tiny-stylegan"})
    at.switch_page(PAGE).run()
    no_exception(at)
    assert not at.dataframe  # off until asked: the matrix stays quick
    at.toggle(key="mix_droplets").set_value(True).run()
    no_exception(at)
    shown = at.dataframe[0].value
    table = mixing.droplet_rows(mixing.adain_peaks(stylegan_env, n=64, seed=0))
    assert shown.to_dict("records") == table
    assert any(c.value.startswith("No droplet") for c in at.caption)


INTERPOLATION = "app_pages/1_Latent_interpolation.py"


def test_the_interpolation_page_walks_in_w_for_a_stylegan_only(stylegan_env):
    at = start({"checkpoint": "tiny-stylegan", "seeds": "3, 9", "frames": "6"})
    at.switch_page(INTERPOLATION).run()
    no_exception(at)
    strip_index = CANDIDATE_IMAGES = 8  # the 8 candidates come first, then the strip
    z_strip = pixels(at, strip_index)
    at.radio(key="interp_space").set_value("w").run()
    no_exception(at)
    assert "lerp in W" in at.image[strip_index].captions[0]
    assert at.query_params["space"] == "w"
    from studio import explore, imaging

    expected = imaging.grid(explore.walk(stylegan_env, [3, 9], frames=6, space="w").frames, nrow=6)
    w_strip = pixels(at, strip_index)
    assert not np.array_equal(z_strip, w_strip)
    assert np.array_equal(shrink(w_strip, expected), expected[..., 0])
    assert len(at.image) == CANDIDATE_IMAGES + 2  # strip and GIF

    dcgan = start({"checkpoint": "tiny-dcgan"})
    dcgan.switch_page(INTERPOLATION).run()
    no_exception(dcgan)
    assert not [r for r in dcgan.radio if r.key == "interp_space"]  # z only: no space radio


def test_interpolate_endpoint_in_w(stylegan_env):
    from studio import explore, imaging

    out = api.interpolate("tiny-stylegan", "3, 9", frames=6, space="w")
    assert np.array_equal(out.frames, explore.walk(stylegan_env, [3, 9], frames=6, space="w").frames)
    assert "lerp in W" in out.note
    assert not np.array_equal(out.frames, api.interpolate("tiny-stylegan", "3, 9", frames=6).frames)
    assert np.array_equal(out.strip, imaging.grid(out.frames, nrow=6))
    with pytest.raises(DataError, match="needs a StyleGAN"):
        api.interpolate("tiny-dcgan", "3, 9", space="w")
    with pytest.raises(DataError, match="space must be one of"):
        api.interpolate("tiny-stylegan", "3, 9", space="zz")


def test_the_bare_style_mix_call_draws_the_bundled_stylegan():
    """api.style_mix() with its defaults: the bundled mnist-stylegan's matrix, coarse crossover; the
    fine crossover changes every cell, and (a trained StyleGAN) keeps each row's image closer."""
    model = checkpoints.load("mnist-stylegan").model
    rows, columns = [0, 1, 2, 3], [4, 5, 6, 7]
    coarse = mixing.mixing_matrix(model, rows, columns, mixing.presets(model)["coarse"])
    fine = mixing.mixing_matrix(model, rows, columns, mixing.presets(model)["fine"])
    out = api.style_mix()
    assert np.array_equal(out.grid, coarse.grid())
    assert json.loads(out.recipe)["model"] == "mnist-stylegan" and json.loads(out.recipe)["resolutions"] == [4, 8]
    assert np.array_equal(api.style_mix(crossover="fine").grid, fine.grid())
    assert all(not np.array_equal(coarse.cells[r, k], fine.cells[r, k]) for r in range(4) for k in range(4))

    def distance_to_rows(cells):  # mean |cell - its row's source| in grey levels
        return float(np.abs(cells.astype(float) - coarse.rows[:, None].astype(float)).mean())

    assert distance_to_rows(fine.cells) < distance_to_rows(coarse.cells)


def test_the_page_mixes_the_bundled_faces_stylegan_in_colour(tmp_path, monkeypatch):
    """A link to faces-stylegan's fine crossover: the page shows the core's RGB matrix, pixel for pixel."""
    isolate_studio(monkeypatch, tmp_path, Path(__file__).resolve().parents[1] / "checkpoints" / "zoo.toml")
    at = start({"checkpoint": "faces-stylegan", "rows": "0,1", "columns": "2,3", "crossover": "fine"})
    at.switch_page(PAGE).run()
    no_exception(at)
    model = checkpoints.load("faces-stylegan").model
    grid = mixing.mixing_matrix(model, [0, 1], [2, 3], mixing.presets(model)["fine"]).grid()  # (H, W, 3)
    shown = pixels(at, 0)
    assert shown.ndim == 3 and shown.shape[2] == 3
    back = np.asarray(Image.fromarray(shown).resize((grid.shape[1], grid.shape[0]), Image.NEAREST))
    assert np.array_equal(back, grid)
    assert "32x32" in at.image[0].captions[0]
