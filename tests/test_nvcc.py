"""Compile every CUDA source of minivae.backend.kernels without a GPU.

nvcc (CI has one) compiles each ``.cu`` file for sm_90 with the options CuPy's
NVRTC uses at run time, warnings as errors, so a syntax or type error in a
kernel cannot land unnoticed on a machine without a GPU. Where CuPy and its
NVRTC library are importable (no GPU needed either), the same sources also go
through NVRTC itself, which has no host headers. Skipped with a reason when
neither compiler is present.
"""
import re
import shutil
import subprocess

import pytest

from minivae.backend.kernels import cuda
from minivae.backend.kernels.reference import ACTS, LEAKY_SLOPE

NVCC = shutil.which("nvcc")
ARCH = "sm_90"
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found on PATH (CI has it)")
SOURCES = sorted(cuda.SOURCES)


def entries(ptx):
    """The names of the kernels (.entry) a PTX text defines."""
    return set(re.findall(r"\.entry\s+(\w+)", ptx))


def expected_entries(filename):
    return {f"{k}_{s}" for k in cuda.SOURCES[filename] for s in ("f32", "f64")}


def nvcc(tmp_path, filename, *flags):
    src = tmp_path / filename
    src.write_text(cuda.cuda_source(filename), encoding="utf-8")
    cmd = [NVCC, f"-arch={ARCH}", *cuda.NVRTC_OPTIONS, "-Werror", "all-warnings", *flags, str(src)]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"nvcc failed on {filename}:\n{' '.join(cmd)}\n{run.stdout}\n{run.stderr}"
    return run


@needs_nvcc
@pytest.mark.parametrize("filename", SOURCES)
def test_nvcc_ptx_has_every_kernel(tmp_path, filename):
    nvcc(tmp_path, filename, "--ptx", "-o", "out.ptx")
    assert entries((tmp_path / "out.ptx").read_text()) == expected_entries(filename)


@needs_nvcc
@pytest.mark.parametrize("filename", SOURCES)
def test_nvcc_compiles_object(tmp_path, filename):
    """Through ptxas too (-c), which checks what PTX alone does not (registers, shared memory)."""
    nvcc(tmp_path, filename, "-c", "-o", "out.o")
    assert (tmp_path / "out.o").stat().st_size > 0


def _nvrtc_or_skip():
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
    except Exception as exc:  # CuPy absent, or its NVRTC library missing
        pytest.skip(f"CuPy's NVRTC is not importable here ({type(exc).__name__}: {exc})")
    return nvrtc


@pytest.mark.parametrize("filename", SOURCES)
def test_nvrtc_compiles_with_runtime_options(filename):
    nvrtc = _nvrtc_or_skip()
    prog = nvrtc.createProgram(cuda.cuda_source(filename), filename, [], [])
    try:
        nvrtc.compileProgram(prog, ["--gpu-architecture=compute_90", *cuda.NVRTC_OPTIONS])
    except Exception as exc:
        pytest.fail(f"NVRTC failed on {filename}: {exc}\n{nvrtc.getProgramLog(prog)}")
    ptx = nvrtc.getPTX(prog)
    assert entries(ptx.decode() if isinstance(ptx, bytes) else ptx) == expected_entries(filename)


# ----------------------------------------------- the sources agree with cuda.py (no compiler needed)
@pytest.mark.parametrize("filename", SOURCES)
def test_source_declares_the_kernels_cuda_py_launches(filename):
    src = cuda.cuda_source(filename)
    declared = set(re.findall(r"__global__\s+void\s+(\w+)\s*\(", src))
    assert declared == expected_entries(filename)
    assert 'extern "C"' in src
    assert not re.search(r"^\s*#\s*include", src, re.M)     # NVRTC has no host headers


def test_activation_numbers_match_reference():
    src = cuda.cuda_source("bias_act.cu")
    codes = {name.lower(): int(v) for name, v in re.findall(r"#define ACT_(\w+) (\d+)", src)}
    assert codes == {name: i for i, name in enumerate(ACTS)} == cuda.ACT_CODES
    assert float(re.search(r"#define LEAKY_SLOPE ([0-9.]+)", src).group(1)) == LEAKY_SLOPE
