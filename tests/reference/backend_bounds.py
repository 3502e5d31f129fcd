"""Which backend a reference test runs mot on, and the bound ../shared/SPEC.md 1.7 holds it to.

Every reference suite runs on the CPU (`--backend cpu`, named: no test depends on what `auto`
picks) and again on CUDA under its own ctest name (label `gpu`), which exits SKIP (ctest:
skipped) on a machine without a CUDA device.

    tolerance("cpu", ["bf16"]) -> 1e-4     tolerance("cuda", ["f32", "bf16"]) -> 2e-2
"""

SKIP = 77

# SPEC 1.7: the CPU keeps f32 activations for every weight dtype (<= 1e-4). CUDA in its default
# precision (`fast`) runs tensor-core GEMMs with bf16/f16 activations where the weights are
# bf16/f16: <= 2e-2 and <= 5e-3; f32 weights are computed exactly in both precisions.
CPU_TOL = 1e-4
CUDA_FAST_TOL = {"f32": 1e-4, "bf16": 2e-2, "f16": 5e-3}


def tolerance(backend, dtypes):
    """The per-row bound max|mot - ref| / max|ref| for a model (or pool) whose weights come in
    these dtypes: the loosest of them on CUDA, 1e-4 on the CPU."""
    if backend == "cpu":
        return CPU_TOL
    if backend != "cuda":
        raise ValueError(f"backend {backend!r}: expected cpu or cuda")
    return max(CUDA_FAST_TOL.get(d, CPU_TOL) for d in dtypes) if dtypes else CPU_TOL


def emulated():
    """True when the GPU variants run on the CPU emulation of the CUDA backend
    (tests/tools/cuda_emu/run.sh suites sets MOT_CUDA_EMU=1 and MOT_CUDA_MODULE to the emulated
    libmot-cuda.so): the device counts as present, and a refusal is a failure, not a skip."""
    import os
    return os.environ.get("MOT_CUDA_EMU") == "1"


def no_device(stderr):
    """Whether mot refused --backend cuda because this machine has no CUDA device (or the
    build no CUDA backend): then the GPU variant of a test is skipped, not failed."""
    if emulated():
        return False
    needles = ("no CUDA", "CUDA device", "CUDA backend", "libmot-cuda")
    return any(n in stderr for n in needles)


def dtype_of(make_model_flags):
    """The --dtype a make_model.py flag list asks for (its default: f32)."""
    flags = list(make_model_flags)
    return flags[flags.index("--dtype") + 1] if "--dtype" in flags else "f32"


def cuda_absent():
    """True when this machine has no NVIDIA device node (checked before any model is built, so
    a GPU variant is skipped in milliseconds); mot's own refusal (no_device) covers the rest."""
    import glob
    if emulated():
        return False
    return not glob.glob("/dev/nvidia[0-9]*") and not glob.glob("/proc/driver/nvidia/gpus/*")


def skip_without_cuda(backend):
    """Exits SKIP when backend is cuda and the machine has no NVIDIA device."""
    if backend == "cuda" and cuda_absent():
        print("skipped: no NVIDIA device on this machine (/dev/nvidia*)")
        raise SystemExit(SKIP)
