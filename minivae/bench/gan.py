"""``python -m minivae bench --model gan [--loss ns] [--vs torch]``: how fast minivae trains cs231n's GAN.

The model is cs231n's GAN: G 96-1024-1024-784 (ReLU, then tanh), D
784-256-256-1 (LeakyReLU 0.01), z ~ U(-1, 1), MNIST scaled to [-1, 1], with
the loss's paper settings (:data:`minivae.models.gan_config.PAPER_DEFAULTS`; ns:
Adam(1e-3, 0.5, 0.999), batch 128). One iteration is one step of ``fit``: a
critic step on the batch and, after every n_critic-th, a generator step
(``GAN.train_step``). ``--vs torch`` trains the same GAN in PyTorch eager in a
child process (:mod:`.torch_gan`: same weights, noise, data order, losses and
optimizers), epochs alternating, a pause before each timed one. Printed: the
epoch times, ms per iteration, examples per second, the matrix products'
GFLOP/s, the ratio minivae / torch, and after training the yardstick of
:mod:`minivae.metrics` on ``--samples`` images of each side, from the same z.
The last line is one JSON object.
"""
from __future__ import annotations

import statistics
import time

import numpy

from ..errors import ConfigError
from ..models.gan import GAN
from ..models.gan_config import GANConfig
from ..backend.threads import blas_limit
from ..train import Batch, TrainConfig
from .workload import load_data, peak_rss_mb
from .peak import matmul_peak


def architecture(loss):
    """The GAN options of the benchmark: cs231n's networks (GAN's defaults), the given loss."""
    return dict(loss=loss)


def _mm(layers, n, skip_first_dx=False, dx=True):
    """Matrix-product FLOPs of one pass of n rows through Dense layers: forward, or with its backward."""
    return sum(2 * n * d.d_in * d.d_out for i, d in enumerate(layers) if dx and not (skip_first_dx and i == 0))


def step_flops(gan, n):
    """(critic step, generator step) matrix-product FLOPs at batch n, as GAN.train_step computes them.

    Critic: G forward (n), D forward and dW (2n rows: [x; G(z)]), dx for D's layers but the first;
    WGAN-GP adds four (n) products per hidden critic layer (forward, input-gradient chain, W_bar, u_bar).
    Generator: G and D forward (n), D's dx (not its dW: D is not trained there), G's dW and dx but the
    first layer's.
    """
    G, D = gan.generator.layers, gan.discriminator.layers
    critic = _mm(G, n) + 2 * _mm(D, 2 * n) + _mm(D, 2 * n, skip_first_dx=True)
    if gan.config.loss == "wgan-gp":
        critic += 4 * _mm(D[:-1], n)
    generator = 2 * _mm(G, n) + _mm(G, n, skip_first_dx=True) + 2 * _mm(D, n)
    return critic, generator


def epoch_flops(gan, n_examples, batch_size):
    """FLOPs of one epoch of iterations (critic steps; a generator step after every n_critic-th)."""
    total, k = 0, gan.config.n_critic
    for t, s in enumerate(range(0, n_examples, batch_size), start=1):
        c, g = step_flops(gan, min(batch_size, n_examples - s))
        total += c + (g if t % k == 0 else 0)
    return total


class MiniGANTrainer:
    """The minivae GAN, its two optimizers and its data: epochs of ``gan.train_step`` as ``fit`` runs them.

    Each iteration gathers the batch into a preallocated buffer (``numpy.take``
    with ``out=``), then calls ``gan.train_step``, which draws z (and alpha)
    from ``gan.rng`` itself. The caller sets BLAS's threads.
    """

    name = "minivae"

    def __init__(self, arch, x, lr, seed=0):
        self.gan = GAN(**arch, seed=seed)
        self.opt = self.gan.configure_optimizers(TrainConfig(lr=lr))
        self.x = x
        self._bufs = {}

    def epoch(self, order, batch_size):
        """One pass over x[order]; returns (seconds, {"d_loss", "g_loss"} means over their steps)."""
        gan, opt, x = self.gan, self.opt, self.x
        d_sum = g_sum = 0.0
        g_steps = steps = 0
        t0 = time.perf_counter()
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            if len(idx) not in self._bufs:
                self._bufs[len(idx)] = numpy.empty((len(idx), x.shape[1]), dtype=gan.dtype)
            xb = numpy.take(x, idx, axis=0, out=self._bufs[len(idx)])
            m = gan.train_step(Batch(x=xb, target=xb), opt)
            d_sum, steps = d_sum + float(m["d_loss"]), steps + 1
            if "g_loss" in m:
                g_sum, g_steps = g_sum + float(m["g_loss"]), g_steps + 1
        sec = time.perf_counter() - t0
        return sec, {"d_loss": d_sum / steps, "g_loss": g_sum / g_steps if g_steps else float("nan")}

    def sample(self, z, batch_size=1000):
        """G(z) as images in [0, 1] for z (N, noise_dim)."""
        return numpy.concatenate([self.gan.generate(z[s:s + batch_size]) for s in range(0, len(z), batch_size)])


def draw_z(gan, n, seed):
    """n noise vectors of the GAN's distribution from their own seed: the same z for both frameworks."""
    rng = numpy.random.default_rng(seed)
    if gan.config.noise == "uniform":
        return (rng.random((n, gan.config.noise_dim), dtype=gan.dtype) * 2 - 1).astype(gan.dtype)
    return rng.standard_normal((n, gan.config.noise_dim), dtype=gan.dtype)


def yardstick(images):
    """sample_quality of each side's images and the real-data floor, or (None, why) without minivae.metrics."""
    try:
        from ..metrics import real_data_floor, sample_quality
    except ImportError as exc:
        return None, f"minivae.metrics is not available ({exc}): no FID / class entropy / inception score"
    n = min(len(v) for v in images.values())
    out = {name: sample_quality(v) for name, v in images.items()}
    out["real data"] = real_data_floor(n)
    return out, None


def _check(args):
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if args.pause < 0:
        raise ConfigError(f"--pause must be >= 0 seconds, got {args.pause}")
    if args.backend != "numpy":
        raise ConfigError("--model gan benchmarks the CPU (NumPy backend) only; drop --backend cupy")
    if args.batch_size and len(args.batch_size) != 1:
        raise ConfigError(f"--model gan takes one --batch-size, got {args.batch_size}")
    if args.epochs < 1 or args.warmup < 0:
        raise ConfigError(f"--epochs must be >= 1 and --warmup >= 0, got {args.epochs} and {args.warmup}")
    if args.samples != 0 and not 2 <= args.samples:
        raise ConfigError(f"--samples must be 0 (no yardstick) or >= 2 (FID needs a covariance), got {args.samples}")


def run(args):
    """Train minivae (and torch), print the table; returns the JSON dict."""
    _check(args)
    arch = architecture(args.loss)
    defaults = GANConfig(**arch).train_defaults()                    # the paper's lr and batch size
    lr = args.lr if args.lr is not None else defaults["lr"]
    batch_size = args.batch_size[0] if args.batch_size else defaults["batch_size"]
    x, _, _ = load_data(args.limit)
    n = x.shape[0]
    orders = numpy.random.default_rng(args.seed)
    warm = [orders.permutation(n) for _ in range(args.warmup)]
    timed = [orders.permutation(n) for _ in range(args.epochs)]
    with blas_limit(args.threads) as ok:
        if not ok:
            print("note: NumPy's BLAS thread count could not be set (install threadpoolctl); it runs as configured")
        peak, _ = matmul_peak((512, 1024))
        trainers = [MiniGANTrainer(arch, x, lr, args.seed)]
        gan = trainers[0].gan
        _header(args, gan, lr, batch_size, n, peak)
        if args.vs == "torch":
            from .torch_gan import TorchGANProcess

            trainers.append(TorchGANProcess(arch, args.seed, lr, args.threads, args.limit, args.torch_adam))
        try:
            for t in trainers:
                for order in warm:
                    t.epoch(order, batch_size)
            times, losses = {t.name: [] for t in trainers}, {}
            for k, order in enumerate(timed):           # alternate: minivae epoch, torch epoch, ...
                for t in trainers:
                    time.sleep(args.pause if len(trainers) > 1 else 0)
                    sec, losses[t.name] = t.epoch(order, batch_size)
                    times[t.name].append(sec)
                    print(f"  epoch {k + 1} {t.name:8s} {sec:8.2f} s  d_loss {losses[t.name]['d_loss']:.4f}  "
                          f"g_loss {losses[t.name]['g_loss']:.4f}", flush=True)
            images = {}
            if args.samples:
                z = draw_z(gan, args.samples, args.seed + 1)
                images = {t.name: t.sample(z) for t in trainers}
        finally:
            for t in trainers[1:]:
                t.close()
        rss = {"minivae": peak_rss_mb(), **({"torch": trainers[1].peak_rss_mb} if len(trainers) > 1 else {})}
        quality, note = yardstick(images) if images else (None, "--samples 0: no yardstick")
    steps = -(-n // batch_size)
    flops = epoch_flops(gan, n, batch_size)
    result = dict(model="gan", loss=args.loss, threads=args.threads, batch_size=batch_size, lr=lr, n_train=n,
                  steps_per_epoch=steps, n_critic=gan.config.n_critic, flops_per_epoch=flops, peak_gflops=peak,
                  torch_optimizer=args.torch_adam if len(trainers) > 1 else None)
    for name, t in times.items():
        med = statistics.median(t)
        pre = "" if name == "minivae" else f"{name}_"
        result.update({f"{pre}epoch_times_s": t, f"{pre}epoch_time_s": med, f"{pre}epoch_time_min_s": min(t),
                       f"{pre}epoch_time_max_s": max(t), f"{pre}iteration_ms": 1e3 * med / steps,
                       f"{pre}examples_per_s": n / med, f"{pre}gflops": flops / med / 1e9,
                       f"{pre}d_loss": losses[name]["d_loss"], f"{pre}g_loss": losses[name]["g_loss"],
                       f"{pre}peak_rss_mb": rss[name]})
    if "torch" in times:
        result["ratio"] = result["epoch_time_s"] / result["torch_epoch_time_s"]
        result["ratio_paired_median"] = statistics.median(a / b for a, b in zip(times["minivae"], times["torch"]))
    result["quality"], result["quality_note"] = quality, note
    _table(result, list(times))
    return result


def _header(args, gan, lr, batch_size, n, peak):
    c, opt = gan.config, type(gan.configure_optimizers(TrainConfig(lr=lr))["generator"]).__name__
    print(f"minivae bench --model gan: cs231n GAN, G {c.noise_dim}-{'-'.join(map(str, c.generator_dims))}-"
          f"{c.data_dim} {c.generator_activation} + tanh, D {c.data_dim}-{'-'.join(map(str, c.discriminator_dims))}"
          f"-1 {c.discriminator_activation}, z {c.noise}")
    print(f"loss {c.loss}, {opt} lr {lr:g}{' ' + str(c.optimizer_options()) if c.optimizer_options() else ''}, "
          f"batch {batch_size}, n_critic {c.n_critic}" + (f", clip {c.clip}" if c.clip else "")
          + (f", gp lambda {c.gp_lambda}" if c.gp_lambda else ""))
    print(f"threads: {args.threads} (NumPy's BLAS; PyTorch's intra-op threads, in a process of its own); "
          f"float32 matmul peak {peak:.1f} GFLOP/s")
    print(f"data: MNIST, {n} train images; {args.warmup} warm-up + {args.epochs} timed epochs per framework, "
          f"alternating, {args.pause:g} s pause before each; z drawn by each side from the same NumPy generator "
          "state, inside its timed loop", flush=True)


def _table(r, names):
    print()
    label = {"minivae": "minivae", "torch": f"torch ({r['torch_optimizer']} optim)"}
    print(f"  {'':28s}" + "".join(f"{label[nm]:>24s}" for nm in names))
    rows = [("epoch time median (s)", "epoch_time_s", "{:.2f}"), ("epoch time min (s)", "epoch_time_min_s", "{:.2f}"),
            ("epoch time max (s)", "epoch_time_max_s", "{:.2f}"), ("ms / iteration", "iteration_ms", "{:.2f}"),
            ("examples / s", "examples_per_s", "{:,.0f}"), ("matmul GFLOP/s achieved", "gflops", "{:.1f}"),
            ("d_loss (last epoch)", "d_loss", "{:.4f}"), ("g_loss (last epoch)", "g_loss", "{:.4f}"),
            ("peak RSS (MiB)", "peak_rss_mb", "{:.0f}")]
    for title, key, fmt in rows:
        print(f"  {title:28s}" + "".join(f"{fmt.format(r[('' if nm == 'minivae' else nm + '_') + key]):>24s}"
                                        for nm in names))
    print(f"  ({r['steps_per_epoch']} iterations per epoch, {r['flops_per_epoch'] / 1e9:.0f} GFLOP of matrix "
          "products per epoch)")
    if "ratio" in r:
        print(f"  ratio minivae / torch: {r['ratio']:.3f} (medians), {r['ratio_paired_median']:.3f} "
              "(median of the epoch pairs); the PyTorch process ran apart")
    if r["quality"] is None:
        print(f"  note: {r['quality_note']}")
        return
    print("  sample quality (minivae.metrics, same z for both sides):")
    for name, q in r["quality"].items():
        print(f"    {name:10s} FID {q['fid']:8.3f}   class entropy {q['class_entropy']:.4f} nats   "
              f"inception score {q['inception_score']:.3f}   ({q['n']} images)")
