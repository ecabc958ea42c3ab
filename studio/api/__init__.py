"""What the Gradio app and its HTTP API compute: one function per endpoint, plain data in and out.

Every argument an HTTP client can send is checked here, with a ``DataError`` / ``CheckpointError``
whose message the client sees; every argument has a default, so a bare call shows what an
endpoint does. The results are what the Streamlit pages show, from the same ``studio`` functions
(``explore.truncated``, ``explore.walk``, ``translate.translate_image``, ``live.start_run``, ...):
numpy uint8 images, bytes of PNG / GIF / MP4 files, dicts and plotly figures. Nothing here knows
Gradio; ``gradio_app.py`` only lays these out and turns the errors into ``gr.Error``.

Models are named as a user types them: a zoo name, an ``hf://org/repo`` id, a training run
folder (under ``runs/``) or a checkpoint uploaded through ``save_checkpoint_upload``. Any other
server path is refused: an HTTP client must not make the server read files of its choosing.

One module a feature, each importing only ``common`` (argument checks, model loading and its
cache): ``latent`` (samples, interpolation, truncation), ``translation``, ``runs`` (training),
``editing`` (feature editing, bias audit), ``mixing`` (StyleGAN), ``experiments`` (the apply
labs) and ``evaluation``. Callers use ``from studio import api`` and ``api.<endpoint>``.
"""

from studio.api.common import (  # noqa: F401
    DEFAULT_MODEL,
    DEFAULT_RECIPE,
    DEFAULT_TRANSLATION_MODEL,
    DIRECTIONS,
    MAX_FPS,
    MAX_FRAMES,
    MAX_KEY_SEEDS,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_TRAIN_STEPS,
    MODEL_CACHE_SIZE,
    TRUNCATION_RANGE,
    _models,
    check_int,
    check_truncation,
    latent_model,
    load_model,
    model_card,
    model_source,
    parse_seeds,
    preview,
    save_checkpoint_upload,
)
from studio.api.editing import (  # noqa: F401
    DEFAULT_AUDIT_MODEL,
    DEFAULT_EDIT_MODEL,
    EDIT_DIRECTIONS,
    MAX_EDIT_STEPS,
    AUDIT_K,
    AUDIT_N,
    Audit,
    Edit,
    bias_audit,
    edit,
    edit_models,
)
from studio.api.evaluation import (  # noqa: F401
    DEFAULT_EVAL_N,
    DISAGREEMENT_N,
    EVAL_BOOTSTRAP,
    EVAL_EXTRACTORS,
    EVAL_MAX_MODELS,
    EVAL_N,
    Chart,
    Evaluation,
    FeatureMap,
    check_extractor,
    eval_models,
    evaluate,
    feature_map,
    fid_curve,
    fid_disagreement,
    truncation_metrics,
)
from studio.api.experiments import (  # noqa: F401
    EXPERIMENT_KS,
    MAX_WAIT_S,
    SEGMENTATION_MODELS,
    augment,
    check_float,
    experiment_chart,
    segment,
    semisupervised,
    transfer,
)
from studio.api.latent import (  # noqa: F401
    Interpolation,
    Truncation,
    generate,
    grid_rows,
    interpolate,
    truncate,
)
from studio.api.mixing import (  # noqa: F401
    DEFAULT_STYLEGAN,
    DROPLET_COLUMNS,
    MAX_RECIPE_BYTES,
    PSI_RANGE,
    StochasticVariation,
    StyleMix,
    WTruncation,
    check_crossover,
    check_cutoff,
    check_noise_at,
    check_psi,
    droplets,
    Droplets,
    mix_recipe,
    parse_matrix_seeds,
    stochastic_variation,
    style_mix,
    style_mix_recipe,
    stylegan_model,
    w_truncation,
)
from studio.api.runs import (  # noqa: F401
    find_run,
    run_curves,
    run_samples,
    run_status,
    train_recipes,
    train_resume,
    train_start,
    train_stop,
)
from studio.api.translation import (  # noqa: F401
    read_upload,
    sample_files,
    translate_file,
    translation_model,
)
