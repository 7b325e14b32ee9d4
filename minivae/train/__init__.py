"""Training: one loop (``fit``) for every model, with a history per epoch.

``fit`` owns its random generators (seeded; nothing global): it shuffles the
data, resamples dynamically binarized pixels and corrupts inputs for a
denoising VAE; the model's own generator draws eps. A NaN or inf loss stops
training with the epoch and batch named, and the model is put back to its
last good weights (the last checkpoint on disk is never overwritten by a
diverged model).

    loop.py       fit and evaluate: the loop itself
    state.py      TrainState: everything of a run but the weights
    resume.py     the run's state in a checkpoint, and back
    batches.py    Batch, BatchMaker, corrupt: from an epoch's order to batches
    schedules.py  the learning rate and the warm-up
    config.py     TrainConfig: the options, validated
    progress.py   Progress: the epoch bar, and progress(done, total) for any long call
    stop.py       StopOnSignal: Ctrl-C and SIGTERM end a run after its step
    step_log.py   StepLog, EpochRows: records kept by callbacks while a run trains
    run_folder.py claim_run_folder: a new folder per run, a used --out refused (the policy)
    run_record.py metrics.json: one layout, provenance, totals over resumes; read_metrics
"""
from .batches import Batch, BatchMaker, corrupt
from .config import TrainConfig
from .loop import evaluate, fit
from .progress import Progress
from .resume import load_run
from .schedules import LR_SCHEDULES, kl_weight, learning_rate, warmup_fraction
from .state import TrainState
from .run_folder import claim_run_folder, resolve_run
from .run_record import provenance, read_metrics, train_seconds, update_metrics, write_metrics
from .step_log import EpochRows, StepLog

__all__ = ["fit", "evaluate", "TrainConfig", "TrainState", "load_run", "Batch", "BatchMaker", "corrupt", "Progress",
           "LR_SCHEDULES", "learning_rate", "kl_weight", "warmup_fraction", "StepLog", "EpochRows",
           "claim_run_folder", "resolve_run", "provenance", "read_metrics", "train_seconds", "update_metrics",
           "write_metrics"]
