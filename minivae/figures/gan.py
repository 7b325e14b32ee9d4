"""Figures of a GAN's training run, written straight to PNG files (the helpers of :mod:`minivae.figures.vae`).

    epoch_grid          the samples G(z) of one fixed z after one epoch (``samples_epoch_001.png``, ...)
    samples_by_epoch    one row per epoch of the same z: progress at a glance (a subsample of many epochs)
    loss_curves         L_D (the discriminator's or critic's loss) and L_G against epochs
    discriminator_curves  mean D(x) against mean D(G(z)) (the equilibrium value dotted); for WGAN also
                        the critic's estimate of the Wasserstein distance, E D(x) - E D(G(z))

drawn from what :func:`minivae.train.fit` returns and from the two records its callbacks keep
(:mod:`minivae.train.step_log`: ``StepLog``, ``EpochRows``).

``history`` is what :func:`minivae.train.fit` returns for a GAN (``train_d_loss``,
``train_g_loss``, ``train_d_real``, ``train_d_fake``, ``train_wasserstein``,
``test_*``, one dict per epoch). ``steps`` is a StepLog's record,
``{"log_every": k, "steps_per_epoch": S, "step": [...], "d_loss": [...], ...}``:
each value the mean over the window of steps that ends at ``step`` (``None``
where the window had no generator step). Curves are drawn against epochs:
the windows at step / S (thin lines), each epoch's training mean at the
middle of its epoch (epoch - 1/2, markers), its test figures, measured
after it, at the epoch's end (dashed).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..adversarial import LSGAN_A, LSGAN_B, check_loss
from ..errors import DataError, ShapeError
from .vae import _host, _save, class_rows, image_grid

MAX_ROWS = 20          # rows of samples_by_epoch at most
ROW = 10               # images per epoch in samples_by_epoch


def equilibrium(loss):
    """Mean D at the game's equilibrium p_g = p_data, or None (WGAN's critic has no fixed value).

    Minimax/ns: D*(x) = p_data / (p_data + p_g) = 1/2. LSGAN: D*(x) =
    (b p_data + a p_g) / (p_data + p_g) = (a + b) / 2 (Mao et al. 2017).
    """
    loss = check_loss(loss)
    if loss in ("minimax", "ns"):
        return 0.5
    return (LSGAN_A + LSGAN_B) / 2 if loss == "lsgan" else None


def epoch_grid(images, path, epoch, nrow=10):
    """The samples G(z) of the run's fixed z after ``epoch``: images (N, 784) in [0, 1], ``nrow`` per row."""
    return image_grid(images, path, nrow=nrow, title=f"G(z) after epoch {epoch} (the same z every epoch)")


def epoch_rows(n_epochs, max_rows=MAX_ROWS):
    """Indices of the epochs drawn when there are ``n_epochs``: all, or ``max_rows`` evenly spread, first and last."""
    if n_epochs <= max_rows:
        return list(range(n_epochs))
    return sorted({int(round(i)) for i in np.linspace(0, n_epochs - 1, max_rows)})


def samples_by_epoch(rows, epochs, path, max_rows=MAX_ROWS):
    """One row per epoch: ``rows`` (E, n, 784), the images of the same z after each of ``epochs`` (E,)."""
    rows, epochs = _host(rows), [int(e) for e in _host(epochs).ravel()]
    if rows.ndim != 3 or len(rows) != len(epochs) or len(rows) == 0:
        raise ShapeError(f"samples_by_epoch: rows of shape {rows.shape} for {len(epochs)} epochs, "
                         "expected (E, n, 784) with E = len(epochs) >= 1")
    keep = epoch_rows(len(rows), max_rows)
    picked = rows[keep]
    title = "G(z) of one fixed z, epoch by epoch" + ("" if len(keep) == len(rows) else f" ({len(keep)} of "
                                                                                      f"{len(rows)} epochs)")
    return class_rows(picked.reshape(-1, picked.shape[2]), path, picked.shape[1],
                      [f"epoch {epochs[i]}" for i in keep], title)


def _check_history(history, keys, what):
    if not history:
        raise DataError(f"{what}: history is empty, expected one dict per epoch as fit returns it")
    for i, h in enumerate(history):
        missing = ({"epoch"} | set(keys)) - set(h)
        if missing:
            raise DataError(f"{what}: history[{i}] lacks {sorted(missing)}, expected a GAN's history from fit")


def _steps_x(steps, what):
    """x positions (in epochs) of the step record's windows, checked."""
    n = len(steps.get("step", ()))
    for k, col in steps.items():
        if isinstance(col, list) and len(col) != n:
            raise ShapeError(f"{what}: steps[{k!r}] has {len(col)} values for {n} steps, expected one per step")
    per_epoch = steps.get("steps_per_epoch")
    if not isinstance(per_epoch, int) or per_epoch < 1:
        raise DataError(f"{what}: steps['steps_per_epoch'] = {per_epoch!r}, expected an integer >= 1")
    return np.asarray(steps["step"], dtype=np.float64) / per_epoch


def _curve(ax, history, steps, key, label, color, x_steps):
    """One quantity: per-step window means (thin line) and per-epoch means (markers); test values dashed."""
    if x_steps is not None and key in steps:
        y = np.array([np.nan if v is None else v for v in steps[key]], dtype=np.float64)
        ok = np.isfinite(y)
        ax.plot(x_steps[ok], y[ok], "-", color=color, alpha=0.35, linewidth=0.8)
    pts = [(h["epoch"] - 0.5, h[f"train_{key}"]) for h in history if h.get(f"train_{key}") is not None]
    if pts:
        ax.plot(*zip(*pts), "o-", color=color, markersize=3, label=f"{label} (train, epoch mean)")
    test = "test_loss" if key == "d_loss" else f"test_{key}"
    pts = [(h["epoch"], h[test]) for h in history if h.get(test) is not None]
    if pts:
        ax.plot(*zip(*pts), "s--", color=color, markersize=3, alpha=0.8, label=f"{label} (test)")


def _finish(ax, xlabel="epoch"):
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=7)


def loss_curves(history, path, steps=None, title="GAN losses"):
    """L_D (the discriminator's or critic's loss) and L_G against epochs.

    Per-epoch means from ``history`` (markers), the discriminator's test loss
    dashed, and the per-step window means of ``steps`` as thin lines.
    """
    _check_history(history, ("train_d_loss",), "loss_curves")
    x_steps = None if steps is None else _steps_x(steps, "loss_curves")
    fig = Figure(figsize=(6.0, 3.6), layout="tight")
    ax = fig.add_subplot()
    _curve(ax, history, steps, "d_loss", "L_D", "tab:blue", x_steps)
    _curve(ax, history, steps, "g_loss", "L_G", "tab:orange", x_steps)
    ax.set_ylabel("loss")
    ax.set_title(title + ("" if steps is None else f" (thin: means over {steps.get('log_every', '?')} steps)"),
                 fontsize=10)
    _finish(ax)
    return _save(fig, path)


def discriminator_curves(history, path, steps=None, equilibrium_value=None, wasserstein=False,
                         ylabel="mean D", title="The discriminator on real and generated images"):
    """Mean D(x) (real) against mean D(G(z)) (fake) per epoch and per step window.

    ``equilibrium_value`` (see :func:`equilibrium`) is drawn dashed; with
    ``wasserstein`` a second panel shows the critic's estimate
    W = E D(x) - E D(G(z)) of the Wasserstein-1 distance.
    """
    keys = ("train_d_real", "train_d_fake") + (("train_wasserstein",) if wasserstein else ())
    _check_history(history, keys, "discriminator_curves")
    x_steps = None if steps is None else _steps_x(steps, "discriminator_curves")
    fig = Figure(figsize=(6.0, 5.8 if wasserstein else 3.6), layout="tight")
    axes = fig.subplots(2, 1, sharex=True) if wasserstein else [fig.add_subplot()]
    ax = axes[0]
    _curve(ax, history, steps, "d_real", "D(x)", "tab:green", x_steps)
    _curve(ax, history, steps, "d_fake", "D(G(z))", "tab:red", x_steps)
    if equilibrium_value is not None:
        ax.axhline(equilibrium_value, color="grey", linestyle=":", linewidth=1,
                   label=f"equilibrium p_g = p_data: {equilibrium_value:g}")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    _finish(ax, "" if wasserstein else "epoch")
    if wasserstein:
        ax = axes[1]
        _curve(ax, history, steps, "wasserstein", "E D(x) - E D(G(z))", "tab:purple", x_steps)
        ax.set_ylabel("W estimate")
        ax.set_title("The critic's estimate of the Wasserstein distance", fontsize=9)
        _finish(ax)
    return _save(fig, path)


__all__ = ["equilibrium", "epoch_grid", "epoch_rows", "samples_by_epoch", "loss_curves", "discriminator_curves",
           "MAX_ROWS", "ROW"]
