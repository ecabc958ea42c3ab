"""Style mixing (StyleGAN): the mixing matrix by resolution, truncation in W, stochastic variation.

Everything drawn here comes from ``studio.explore.mixing``; the matrix's settings live in the
URL (a copied link reproduces it) and in a JSON recipe that can be downloaded and opened again.
"""

from __future__ import annotations

import streamlit as st

from app_pages import _shared as shared
from studio import ideas, imaging
from studio.errors import DataError
from studio.explore import mixing

PREFIX = "mix"
CUSTOM = "custom"
ALL_LAYERS = -1  # the cutoff "none": truncation on every layer


def idea() -> None:
    shared.explain_idea(ideas.STYLE_MIXING)


def parse_noise_mode(text: str) -> str:
    return shared.one_of(mixing.NOISE_MODES)(text)


def parse_seeds(text: str) -> list[int]:
    seeds = shared.parse_int_list(text)
    if not 1 <= len(seeds) <= mixing.MAX_SEEDS or any(s < 0 for s in seeds):
        raise ValueError(f"{text!r}: give 1 to {mixing.MAX_SEEDS} seeds >= 0")
    return seeds


def stylegan_problem(model) -> str | None:
    return None if mixing.is_stylegan(model) else f"The loaded model is a {model.family} model."


st.title("Style mixing")
# Ready on arrival: the session's model when it is a StyleGAN, else the bundled one (with a note).
_, loaded = shared.model_for_page(stylegan_problem, ("unconditional",), prefer="stylegan")
if loaded is None or not mixing.is_stylegan(loaded.model):
    what = "No model is loaded." if loaded is None else stylegan_problem(loaded.model)
    st.info(f"{what} Style mixing needs a StyleGAN, such as mnist-stylegan. {shared.HOME_HINT}", icon=":material/info:")
    idea()
    st.stop()
model, meta = loaded
presets = mixing.presets(model)

rejected = shared.url_state(
    PREFIX,
    {
        "rows": ("0,1,2,3", lambda t: shared.format_value(parse_seeds(t))),
        "columns": ("4,5,6,7", lambda t: shared.format_value(parse_seeds(t))),
        "crossover": ("coarse", shared.one_of([*presets, CUSTOM])),
        "resolutions": (list(presets["coarse"]), lambda t: [r for r in shared.parse_int_list(t) if r in model.resolutions]),
        "psi": (1.0, lambda t: min(2.0, max(-1.0, round(float(t), 2)))),
        "cutoff": (ALL_LAYERS, shared.bounded_int(ALL_LAYERS, model.num_ws)),
        "noise_mode": ("const", parse_noise_mode),
        "noise_seed": (0, shared.bounded_int(0, 2**31 - 1)),
    },
)
if rejected:
    st.warning(f"Ignored link values the page cannot use: {rejected}", icon=":material/link_off:")

controls, idea_column = st.columns([3, 2], gap="large")
with idea_column:
    idea()
    st.caption(f"This model draws at {', '.join(f'{r}x{r}' for r in model.resolutions)}: {model.num_ws} style layers, "
               "two per resolution. Presets: " + "; ".join(f"**{k}** {', '.join(f'{r}x{r}' for r in v)}"
                                                         for k, v in presets.items()))

with controls:
    seeds_row, seeds_column = st.columns(2)
    rows_text = seeds_row.text_input("Row seeds (keep their other styles)", key=f"{PREFIX}_rows")
    columns_text = seeds_column.text_input("Column seeds (give the chosen layers)", key=f"{PREFIX}_columns")
    crossover = st.segmented_control("Take from the columns", [*presets, CUSTOM], key=f"{PREFIX}_crossover",
                                     format_func=lambda k: k if k == CUSTOM else f"{k} ({', '.join(f'{r}x{r}' for r in presets[k])})")
    if crossover == CUSTOM:
        resolutions = st.multiselect("Resolutions", model.resolutions, key=f"{PREFIX}_resolutions",
                                     format_func=lambda r: f"{r}x{r}")
    else:
        resolutions = list(presets.get(crossover or "coarse", presets["coarse"]))
    psi_column, cutoff_column = st.columns(2)
    psi = psi_column.slider("Truncation in W, ψ", -1.0, 2.0, step=0.05, key=f"{PREFIX}_psi",
                            help="w' = w_avg + ψ (w − w_avg): 1 changes nothing, 0 is the average image")
    cutoff = cutoff_column.selectbox("Truncation cutoff", [ALL_LAYERS, *range(model.num_ws + 1)], key=f"{PREFIX}_cutoff",
                                     format_func=lambda c: "none: every layer" if c == ALL_LAYERS else f"the first {c} layers")
    noise_column, noise_seed_column = st.columns(2)
    noise_mode = noise_column.selectbox("Noise", mixing.NOISE_MODES, key=f"{PREFIX}_noise_mode",
                                        help="const: the noise saved with the model; random: drawn from the noise seed; none: off")
    noise_seed = noise_seed_column.number_input("Noise seed", 0, 2**31 - 1, step=1, key=f"{PREFIX}_noise_seed")

try:
    row_seeds, column_seeds = parse_seeds(rows_text), parse_seeds(columns_text)
except ValueError as err:
    st.error(f"Seeds: {err}", icon=":material/error:")
    st.stop()
if not resolutions:
    st.warning("Choose at least one resolution to take from the columns.", icon=":material/warning:")
    st.stop()

recipe = mixing.MixRecipe(model=shared.current_source() or "", weights=mixing.weights_hash(model), row_seeds=row_seeds,
                          column_seeds=column_seeds, resolutions=sorted(resolutions), psi=float(psi),
                          cutoff=None if cutoff == ALL_LAYERS else int(cutoff), noise_mode=noise_mode,
                          noise_seed=int(noise_seed))
matrix = mixing.render_recipe(model, recipe)
shared.sync_url(PREFIX, {"rows": row_seeds, "columns": column_seeds, "crossover": crossover or "coarse",
                         "resolutions": sorted(resolutions), "psi": float(psi), "cutoff": int(cutoff),
                         "noise_mode": noise_mode, "noise_seed": int(noise_seed)})

st.subheader("Mixing matrix")
grid = matrix.grid()
shared.show_image(grid, width=min(720, grid.shape[1] * 3),
                  caption=f"Top: column seeds {column_seeds}. Left: row seeds {row_seeds}. Each cell: the row's styles "
                          f"with layers {matrix.layers} ({', '.join(f'{r}x{r}' for r in recipe.resolutions)}) from its column.")
download_png, download_json = st.columns(2)
# the PNG is encoded when clicked, not at every slider move; a download does not rerun the page
download_png.download_button("Download the matrix (PNG)", lambda grid=grid: shared.png(grid, width=grid.shape[1] * 4),
                             file_name="style-mix.png", mime="image/png", key=f"{PREFIX}_png", on_click="ignore")
download_json.download_button("Download the recipe (JSON)", recipe.to_json(), file_name="style-mix.json",
                              mime="application/json", key=f"{PREFIX}_json", on_click="ignore")
with st.expander("Open a recipe"):
    upload = st.file_uploader("Recipe JSON", type=["json"], key=f"{PREFIX}_upload")
    if upload is not None:
        try:
            opened = mixing.MixRecipe.from_json(upload.getvalue())
            reopened = mixing.render_recipe(model, opened)
        except DataError as err:
            st.error(str(err), icon=":material/error:")
        else:
            shared.show_image(reopened.grid(), width=min(720, grid.shape[1] * 3),
                              caption=f"Reproduced from the recipe: rows {opened.row_seeds}, columns {opened.column_seeds}, "
                                      f"{opened.resolutions} from the columns, ψ {opened.psi}, noise {opened.noise_mode}")

st.subheader("Truncation in W next to truncation in z")
seed_w = int(row_seeds[0])
w_column, z_column = st.columns(2)
with w_column:
    shared.show_image(imaging.grid(mixing.w_truncated(model, seed_w, float(psi), recipe.cutoff, n=16), nrow=4), width=300,
                      caption=f"W space: ψ = {psi:g}, cutoff {'none' if recipe.cutoff is None else recipe.cutoff} (seeds {seed_w}-{seed_w + 15})")
with z_column:
    threshold = st.slider("z-space threshold τ (the course's truncation)", 0.1, 3.0, 0.7, step=0.1, key=f"{PREFIX}_tau")
    shared.show_image(imaging.grid(mixing.z_truncated(model, seed_w, threshold, n=16), nrow=4), width=300,
                      caption=f"z space: |z_i| ≤ τ = {threshold:g} (the same seeds {seed_w}-{seed_w + 15})")

st.subheader("Stochastic variation")
variation_seed = st.number_input("Seed of w", 0, 2**31 - 1, value=seed_w, step=1, key=f"{PREFIX}_var_seed")
noise_at = st.multiselect("Noise on at", model.resolutions, default=model.resolutions, key=f"{PREFIX}_noise_at",
                          format_func=lambda r: f"{r}x{r}")
variation = mixing.stochastic_variation(model, int(variation_seed), n=16, noise_seed=int(noise_seed),
                                        noise_resolutions=noise_at, psi=float(psi), cutoff=recipe.cutoff)
draws_column, std_column = st.columns(2)
with draws_column:
    shared.show_image(imaging.grid(variation.images, nrow=4), width=300,
                      caption=f"One w (seed {variation_seed}), 16 noise draws (noise seed {noise_seed})")
with std_column:
    shared.show_image(mixing.std_image(variation.std), width=300,
                      caption=f"Per-pixel standard deviation over the draws (max {variation.std.max():.3f}): where noise acts")

st.subheader("AdaIN's blind spot: droplets")
st.markdown("AdaIN divides each feature map by its own mean and standard deviation, so a generator can plant one "
            "strong spike that sets them: StyleGAN2's **droplets**, the reason it replaced AdaIN. For each style layer, "
            "the strongest pixel of the maps about to be normalised, over their mean magnitude, and how often it sits "
            "at the same place (64 samples).")
if st.toggle("Look for droplets (64 samples, seed 0)", key=f"{PREFIX}_droplets"):  # off: the matrix stays quick
    peaks = mixing.adain_peaks(model, n=64, seed=0)
    st.dataframe(mixing.droplet_rows(peaks), hide_index=True)
    (st.warning if any(p.droplet for p in peaks) else st.caption)(mixing.droplet_text(peaks))
