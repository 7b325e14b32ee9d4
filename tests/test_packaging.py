"""A non-editable install (``pip install .``) carries every file the code reads at run time.

setup.cfg ships package data by glob; a file moved to a folder the globs do not name would be missing
only from an installed copy (the tests, run from the source tree, would not notice).
"""
import configparser
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = (".gz", ".npz", ".cu", ".raw")        # MNIST, the yardstick's weights, CUDA sources, checksums


def shipped_globs():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return [g.strip() for g in cfg["options.package_data"]["minivae"].split(",") if g.strip()]


def runtime_files():
    try:
        tracked = subprocess.run(["git", "ls-files", "minivae"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [Path(f).relative_to("minivae").as_posix() for f in tracked if f.endswith(RUNTIME)]


def test_every_runtime_file_matches_a_package_data_glob():
    files, globs = runtime_files(), shipped_globs()
    assert len(files) >= 10                                    # 4 MNIST files, checksums, weights, 4 kernels
    missing = [f for f in files if not any(fnmatch(f, g) for g in globs)]
    assert not missing, f"not shipped by setup.cfg's package_data {globs}: {missing}"


def test_every_package_data_glob_matches_a_file():
    files = runtime_files() + ["datasets/files/README.md"]
    stale = [g for g in shipped_globs() if not any(fnmatch(f, g) for f in files)]
    assert not stale, f"package_data globs that match nothing (a moved folder?): {stale}"


def test_the_console_script_names_the_command_line_entry_point():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    target = cfg["options.entry_points"]["console_scripts"].strip()
    module, func = target.split("=")[1].strip().split(":")
    import importlib
    assert callable(getattr(importlib.import_module(module), func)), target
