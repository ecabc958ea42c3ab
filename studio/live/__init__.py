"""Live training control for the UIs: start, stop and resume runs of the training engine, read their
event logs as they grow, and turn them into device facts and health signals a learner can read.

    runs.py     ``runs/<id>/`` read back as ``Run`` facts; the list of runs; logs; how many may train
    launch.py   recipe settings -> ``python -m training`` in its own session; resume; stop
    events.py   ``events.jsonl`` read incrementally: the series and sample grids the tab shows
    device.py   the devices a run can use, live CPU / GPU use
    health.py   warning signs from recent events; a checkpoint's sample quality

The training tab never trains in its own process: ``start_run`` launches ``python -m training``
in a new session (so it outlives the page, the browser tab and even the server); everything else
here only *reads* that run directory. A refresh, a second viewer or a crashed page loses nothing.
This is the one room of ``studio`` that uses ``training/`` (its recipes and run ids), and only
at call time, so importing ``studio`` never imports the engine. Nothing here imports a UI.
"""

from studio.live.device import device_stats, devices
from studio.live.events import EventLog
from studio.live.health import (BANDS, COLLAPSE_MIN_STEP, Band, Signal, checkpoint_quality, health, judged_as_digits,
                                load_classifier, logged_quality, model_quality, recognisable_text)
from studio.live.launch import (FOLDER_RECIPE, FORM_FIELDS, IMAGE_SIZES, MAX_DATA_UPLOAD_MB, MODEL_FIELDS, REPO_ROOT,
                                UPLOADS_DIR, build_command, check_data_path, command_text, format_value, gan_recipes,
                                overrides_for, recipe_defaults, resolve, resume_command, resume_run, save_data_upload,
                                start_run, stop_run)
from studio.live.runs import (LOG_NAME, MAX_RUNS_ENV, PENDING_DIR, STARTUP_TIMEOUT_S, LaunchError, Run, RunsBusy,
                              busy, list_runs, log_path, max_runs, pid_alive, read_run, runs_root, tail_log)

__all__ = [
    "BANDS", "COLLAPSE_MIN_STEP", "FOLDER_RECIPE", "FORM_FIELDS", "IMAGE_SIZES", "LOG_NAME",
    "MAX_DATA_UPLOAD_MB", "MAX_RUNS_ENV", "MODEL_FIELDS", "PENDING_DIR", "REPO_ROOT", "STARTUP_TIMEOUT_S",
    "UPLOADS_DIR", "Band", "build_command", "busy", "check_data_path", "checkpoint_quality", "command_text",
    "device_stats", "devices", "EventLog", "format_value", "gan_recipes", "health", "judged_as_digits", "LaunchError", "list_runs",
    "load_classifier", "log_path", "logged_quality", "max_runs", "model_quality", "overrides_for", "pid_alive",
    "read_run", "recipe_defaults", "recognisable_text", "resolve", "resume_command", "resume_run", "Run",
    "runs_root", "RunsBusy", "save_data_upload", "Signal", "start_run", "stop_run", "tail_log",
]
