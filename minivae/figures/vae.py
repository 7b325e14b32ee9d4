"""Figures for VAE lessons, written straight to PNG files.

Every function takes NumPy arrays (CuPy arrays are copied to the host) and a
path, writes the figure, and returns the path as a :class:`pathlib.Path`.
Figures are :class:`matplotlib.figure.Figure` objects saved with the Agg
renderer: no pyplot, no global state, safe without a display and in threads.
Images are grey levels in [0, 1] (or uint8 0..255), flattened (N, 784) or
square (N, 28, 28), drawn white on black as MNIST stores them.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..errors import ConfigError, DataError, ShapeError, positive_int

DPI = 120
CELL = 0.42  # inches per image in a grid


def _host(a) -> np.ndarray:
    """A NumPy array from a NumPy or CuPy array (or nested lists)."""
    if hasattr(a, "get") and not isinstance(a, np.ndarray):
        a = a.get()
    return np.asarray(a)


def _square(images, what="images") -> np.ndarray:
    """Images as (N, s, s): reshape (N, s*s) rows; reject anything else."""
    a = _host(images)
    if a.ndim == 2:
        s = math.isqrt(a.shape[1])
        if s * s != a.shape[1]:
            raise ShapeError(f"{what}: got shape {a.shape}, expected (N, s*s) square images such as (N, 784)")
        a = a.reshape(len(a), s, s)
    if a.ndim != 3 or a.shape[1] != a.shape[2] or len(a) == 0:
        raise ShapeError(f"{what}: got shape {a.shape}, expected (N, 784) or (N, 28, 28) with N >= 1")
    return a


def _tile(images: np.ndarray, ncol: int, pad: int = 1) -> np.ndarray:
    """Tile (N, s, s) images into one (rows*(s+pad)+pad, ncol*(s+pad)+pad) float image, grey separators."""
    n, s, _ = images.shape
    vmax = 255.0 if images.dtype.kind in "ui" else 1.0
    nrows = math.ceil(n / ncol)
    out = np.full((nrows * (s + pad) + pad, ncol * (s + pad) + pad), 0.35, dtype=np.float32)
    for k in range(n):
        r, c = divmod(k, ncol)
        y, x = pad + r * (s + pad), pad + c * (s + pad)
        out[y:y + s, x:x + s] = images[k] / vmax
    return out


def _show(ax, tiled: np.ndarray) -> None:
    ax.imshow(tiled, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white")
    return path


def image_grid(images, path, nrow: int = 10, title: str | None = None) -> Path:
    """Draw images in a grid with ``nrow`` images per row (torchvision's convention)."""
    imgs = _square(images)
    ncol = min(positive_int("nrow", nrow), len(imgs))
    rows = math.ceil(len(imgs) / ncol)
    fig = Figure(figsize=(max(ncol * CELL, 2.0), rows * CELL + (0.35 if title else 0.0)), layout="tight")
    ax = fig.add_subplot()
    _show(ax, _tile(imgs, ncol))
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


#: what ``model.sample`` gives a VAE or VAE-GAN: the decoder's mean for z ~ p(z), not a draw x ~ p(x | z)
DECODER_MEANS = "Decoder means E[x | z], z ~ p(z)"


def samples(x_samples, path, nrow: int = 10, title: str = DECODER_MEANS) -> Path:
    """Draw decoded prior samples in a grid (see :func:`image_grid`); the title says what they are."""
    return image_grid(x_samples, path, nrow=nrow, title=title)


def reconstructions(x, x_hat, path, n: int = 10, title: str | None = "Reconstructions") -> Path:
    """Inputs on the top row, their reconstructions x_hat below, first ``n`` of each."""
    a, b = _square(x, "x"), _square(x_hat, "x_hat")
    if a.shape != b.shape:
        raise ShapeError(f"reconstructions: x has shape {a.shape} and x_hat {b.shape}, expected equal shapes")
    n = min(positive_int("n", n), len(a))
    tiled = _tile(np.concatenate([a[:n], b[:n]]), n)
    fig = Figure(figsize=(max(n * CELL, 2.0) + 0.9, 2 * CELL + (0.35 if title else 0.0)), layout="tight")
    ax = fig.add_subplot()
    _show(ax, tiled)
    s = a.shape[1] + 1
    ax.set_yticks([0.5 + s / 2, 0.5 + s * 1.5], ["input", "reconstruction"], fontsize=8)
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def class_rows(images, path, n_per_class: int, class_names=None, title: str | None = "One row per class") -> Path:
    """One row per class: ``images`` (C*n, 784) ordered class by class, e.g. from a conditional VAE."""
    imgs = _square(images)
    n = positive_int("n_per_class", n_per_class)
    if len(imgs) % n:
        raise ShapeError(f"class_rows: {len(imgs)} images, expected a multiple of n_per_class={n}")
    c = len(imgs) // n
    names = [str(k) for k in range(c)] if class_names is None else [str(k) for k in class_names]
    if len(names) != c:
        raise ShapeError(f"class_rows: {len(names)} class names for {c} rows, expected {c}")
    fig = Figure(figsize=(n * CELL + 0.6, c * CELL + (0.35 if title else 0.0)), layout="tight")
    ax = fig.add_subplot()
    _show(ax, _tile(imgs, n))
    s = imgs.shape[1] + 1
    ax.set_yticks([0.5 + s * (k + 0.5) for k in range(c)], names, fontsize=8)
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def samples_per_class(images, path, n_per_class: int = 10,
                      title: str = "Decoder means E[x | z, y], z ~ p(z), one row per class y") -> Path:
    """A conditional VAE's samples: ``n_per_class`` images of each class, class by class (see :func:`class_rows`)."""
    return class_rows(images, path, n_per_class, title=title)


def loss_curves(history, path, title: str = "Negative ELBO per example") -> Path:
    """Plot train_loss and test_loss (if present and not None) against epoch.

    ``history``: a list of dicts with keys ``epoch``, ``train_loss`` and
    optionally ``test_loss``, one per epoch, as a trainer records them.
    """
    if not history:
        raise DataError("loss_curves: history is empty, "
                        "expected a list of dicts with keys epoch, train_loss, test_loss")
    for i, h in enumerate(history):
        missing = {"epoch", "train_loss"} - set(h)
        if missing:
            raise DataError(f"loss_curves: history[{i}] lacks {sorted(missing)}, "
                            f"expected keys epoch, train_loss, test_loss")
    fig = Figure(figsize=(5.0, 3.4), layout="tight")
    ax = fig.add_subplot()
    for key, style in (("train_loss", "o-"), ("test_loss", "s--")):
        pts = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
        if pts:
            ep, val = zip(*pts)
            ax.plot(ep, val, style, markersize=3, label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return _save(fig, path)


def latent_scatter(z, labels, path, title: str = "Posterior means in latent space") -> Path:
    """Scatter 2-D latent codes z (N, 2) coloured by label 0..9, with a colour bar."""
    z, labels = _host(z), _host(labels).ravel()
    if z.ndim != 2 or z.shape[1] != 2 or len(z) != len(labels):
        raise ShapeError(f"latent_scatter: z of shape {z.shape} and labels of shape {labels.shape}, "
                         f"expected (N, 2) and (N,)")
    fig = Figure(figsize=(5.2, 4.4), layout="tight")
    ax = fig.add_subplot()
    pts = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=3, alpha=0.7, linewidths=0)
    cbar = fig.colorbar(pts, ax=ax, ticks=range(10))
    cbar.set_label("label")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def manifold_grid(decode_fn, path, n: int = 20, dtype=np.float32,
                  title: str = "Decoded means over the latent plane") -> Path:
    r"""Decode an n x n grid of 2-D latent points spread by the prior's quantiles.

    z_ij = (\Phi^{-1}(p_j), \Phi^{-1}(p_{n-1-i})), p = linspace(0.05, 0.95, n),
    so equal steps in the grid hold equal prior mass and z[1] grows upwards.
    ``decode_fn(z (n*n, 2)) -> (n*n, 784)`` in [0, 1].
    """
    n = positive_int("n", n)
    q = [NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)]
    z = np.array([(q[j], q[n - 1 - i]) for i in range(n) for j in range(n)], dtype=dtype)  # (n*n, 2)
    imgs = _square(decode_fn(z), "decode_fn(z)")
    if len(imgs) != n * n:
        raise ShapeError(f"manifold_grid: decode_fn returned {len(imgs)} images, expected {n * n} (one per z)")
    side = max(n * CELL * 0.6, 3.0)
    fig = Figure(figsize=(side + 0.6, side + 0.6), layout="tight")
    ax = fig.add_subplot()
    _show(ax, _tile(imgs, n, pad=0))
    s = imgs.shape[1]
    ends = [0, n - 1]
    ax.set_xticks([s * (j + 0.5) - 0.5 for j in ends], [f"{q[j]:.2f}" for j in ends], fontsize=8)
    ax.set_yticks([s * (i + 0.5) - 0.5 for i in ends], [f"{q[n - 1 - i]:.2f}" for i in ends], fontsize=8)
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def kl_per_dim_bar(kl_per_dim, active_mask, path, title: str = "KL(q(z_d | x) || p(z_d)) per latent dimension") -> Path:
    """Bar chart of the average KL of each latent dimension; active units in colour, inactive in grey."""
    kl = _host(kl_per_dim).astype(np.float64).ravel()
    active = np.ones(kl.shape, bool) if active_mask is None else _host(active_mask).astype(bool).ravel()
    if active.shape != kl.shape:
        raise ShapeError(f"kl_per_dim_bar: active_mask of shape {active.shape}, expected {kl.shape} like kl_per_dim")
    d = np.arange(len(kl))
    fig = Figure(figsize=(max(4.0, 0.22 * len(kl) + 1.5), 3.2), layout="tight")
    ax = fig.add_subplot()
    ax.bar(d[active], kl[active], color="tab:blue")
    ax.bar(d[~active], kl[~active], color="lightgrey", edgecolor="grey")
    ax.set_xlabel("latent dimension d")
    ax.set_ylabel("KL (nats)")
    ax.set_title(title, fontsize=10)
    if len(kl) <= 32:
        ax.set_xticks(d)
    ax.set_ylim(0, max(float(kl.max(initial=0.0)), 1e-3) * 1.3)                 # room for the legend above the bars
    # the legend's own swatches: an empty bar() (no inactive unit) has no colour of its own to show
    handles = [Patch(color="tab:blue", label=f"active ({int(active.sum())})"),
               Patch(facecolor="lightgrey", edgecolor="grey", label=f"inactive ({int((~active).sum())})")]
    ax.legend(handles=handles, frameon=False, loc="upper right", ncol=2, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def latent_diagnostics(kl_per_dim, activity, path, threshold: float = 0.01,
                       title: str = "Posterior collapse diagnostics") -> Path:
    r"""Two panels per latent dimension u: the average KL_u (top) and the activity
    A_u = Var_x(E_q[z_u]) on a log scale with the active-unit threshold (bottom).

    Active units (A_u > threshold, Burda et al. 2015) are drawn in colour, collapsed ones in grey,
    and the count is in the title. kl_per_dim, activity: (D,).
    """
    kl = _host(kl_per_dim).astype(np.float64).ravel()
    act = _host(activity).astype(np.float64).ravel()
    if act.shape != kl.shape:
        raise ShapeError(f"latent_diagnostics: activity of shape {act.shape}, expected {kl.shape} like kl_per_dim")
    active = act > threshold
    d = np.arange(len(kl))
    colors = np.where(active, "tab:blue", "lightgrey")
    fig = Figure(figsize=(min(max(5.0, 0.3 * len(kl) + 1.6), 14.0), 5.0), layout="tight")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.bar(d, kl, color=colors, edgecolor="grey", linewidth=0.3)
    ax1.set_ylabel("KL_u (nats)")
    ax1.set_title(f"{title}\n{int(active.sum())}/{len(kl)} active units, KL {kl.sum():.2f} nats", fontsize=10)
    ax1.grid(axis="y", alpha=0.3)
    floor = max(threshold * 1e-3, 1e-12)
    ax2.bar(d, np.maximum(act, floor), color=colors, edgecolor="grey", linewidth=0.3)
    ax2.axhline(threshold, color="tab:red", linestyle="--", linewidth=1)
    ax2.set_yscale("log")
    ax2.set_ylim(bottom=floor)
    ax2.set_ylabel("Var_x(E_q[z_u])")
    ax2.set_title(f"activity (dashed: the active-unit threshold {threshold:g})", fontsize=9)
    ax2.set_xlabel("latent dimension u")
    ax2.set_xticks(d[::max(1, math.ceil(len(kl) / 40))])                          # at most 40 labels
    ax2.tick_params(axis="x", labelsize=7 if len(kl) > 10 else 8)
    return _save(fig, path)


def codebook_usage(counts, path, title: str = "Codebook usage") -> Path:
    """Bar chart of how often each code k was chosen; unused (dead) codes marked in grey on the axis."""
    counts = _host(counts).astype(np.float64).ravel()
    k = np.arange(len(counts))
    fig = Figure(figsize=(max(4.0, 0.08 * len(counts) + 2.0), 3.0), layout="tight")
    ax = fig.add_subplot()
    ax.bar(k, counts, color="tab:blue", width=0.9)
    dead = counts == 0
    ax.plot(k[dead], np.zeros(int(dead.sum())), "|", color="grey", markersize=10, label=f"dead ({int(dead.sum())})")
    ax.set_xlabel("code k")
    ax.set_ylabel("times chosen")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)
    return _save(fig, path)
