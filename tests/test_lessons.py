"""Every lesson notebook runs top to bottom in quick mode (MINIVAE_QUICK=1), and is stored clean."""
import json
import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
LESSON_DIR = ROOT / "lessons"
EXPECTED = [
    "01_latent_variable_models", "02_kl_divergence", "03_elbo", "04_reparameterization",
    "05_vae_by_hand", "06_training_mnist", "07_linear_vae_pca", "08_conditional_vae",
    "09_posterior_collapse", "10_importance_weighted_bounds", "11_latent_arithmetic", "12_gpu_kernels",
    "13_gan_game", "14_wgan_lsgan", "15_vae_vs_gan", "16_posteriors_and_priors",
    "17_discrete_latents", "18_changing_the_loss", "19_what_generative_means",
    "20_inverse_autoregressive_flows",
    "21_hierarchical_vae",
    "22_renyi_bounds",
]
LESSONS = sorted(LESSON_DIR.glob("*.ipynb"))
QUICK_LIMIT_S = 60          # the cap per notebook on a 2-core CPU (they take ~5-20 s)
BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def test_the_expected_lessons_exist():
    assert [p.stem for p in LESSONS] == EXPECTED


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for k, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} cell {k} has outputs"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_states_its_lecture_and_summary(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    text = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert "Lectures followed" in text[0] or "Lecture followed" in text[0]
    assert text[-1].lstrip().startswith("## Summary")
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "import minivae" in code


MAX_CODE_LINES = 40        # a code cell is one step: helper, check or figure


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_code_cells_are_short_and_links_exist_in_a_clone(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for k, cell in enumerate(nb["cells"]):
        src = "".join(cell["source"])
        if cell["cell_type"] == "code":
            assert len(src.splitlines()) <= MAX_CODE_LINES, f"{path.name} cell {k}: {len(src.splitlines())} lines"
        assert "../shared" not in src, f"{path.name} cell {k} points outside the repository"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_in_quick_mode(path, monkeypatch):
    monkeypatch.setenv("MINIVAE_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for var in BLAS_THREADS:      # small matrices: one BLAS thread per kernel is faster and predictable on 2 cores
        monkeypatch.setenv(var, "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=QUICK_LIMIT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    start = time.perf_counter()
    client.execute()      # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - start
    assert elapsed < QUICK_LIMIT_S, f"{path.name} took {elapsed:.1f} s in quick mode"
