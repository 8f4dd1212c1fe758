"""Device/precision resolution (mote.runtime): forced probe answers, the deprecated bf16 keys, mote doctor."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mote import runtime
from mote.cli import app
from mote.runtime import Bf16Probe, resolve

NATIVE = Bf16Probe(fp32_ms=2.0, bf16_ms=0.8)  # bf16 2.5x faster: an avx512_bf16/AMX CPU
EMULATED = Bf16Probe(fp32_ms=2.0, bf16_ms=20.0)  # bf16 10x slower: an AVX2-only CPU
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_gpu_no_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(runtime.OVERRIDE_ENV, raising=False)
    monkeypatch.setenv("MOTE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: False)


def test_auto_follows_the_measured_probe_on_cpu() -> None:
    assert resolve("auto", "auto", probe=NATIVE).precision == "bf16"
    rt = resolve("auto", "auto", probe=EMULATED)
    assert (rt.device, rt.precision, rt.warning) == ("cpu", "fp32", None)
    assert "not native" in rt.reason and "0.10x" in rt.reason
    # the threshold: a bf16 that is merely as fast as fp32 is not worth its rounding
    assert resolve("auto", "cpu", probe=Bf16Probe(2.0, 1.9)).precision == "fp32"


def test_explicit_choices() -> None:
    assert resolve("fp32", "cpu", probe=NATIVE).precision == "fp32"
    assert resolve("BF16", "cpu", probe=NATIVE).warning is None
    emulated = resolve("bf16", "cpu", probe=EMULATED)
    assert emulated.precision == "bf16"  # honoured, but with the expected slowdown named
    assert emulated.warning and "10.0x slower" in emulated.warning and "auto or fp32" in emulated.warning
    with pytest.raises(ValueError, match="fp16' is not supported on CPU"):
        resolve("fp16", "cpu")
    with pytest.raises(ValueError, match=r"Unknown precision 'bf61'.*Did you mean \"bf16\""):
        resolve("bf61", "cpu")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve("auto", "cuda")
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        resolve("auto", "gpu")


def test_emulated_bf16_warns_once_when_announced() -> None:
    rt = resolve("bf16", "cpu", probe=EMULATED)
    runtime._announced.clear()
    with pytest.warns(RuntimeWarning, match="emulated"):
        runtime.announce(rt, "test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runtime.announce(rt, "test")  # once per process and choice


def test_cuda_auto_uses_bf16_where_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a: True)
    assert (resolve().device, resolve().precision) == ("cuda", "bf16")
    assert resolve("fp16").precision == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a: False)
    assert resolve().precision == "fp32"
    with pytest.raises(ValueError, match="does not support bf16"):
        resolve("bf16")


def test_override_variable_and_probe_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(runtime.OVERRIDE_ENV, "emulated")
    assert resolve().precision == "fp32"
    monkeypatch.setenv(runtime.OVERRIDE_ENV, "native")
    assert resolve().precision == "bf16"
    monkeypatch.setenv(runtime.OVERRIDE_ENV, "fast")
    with pytest.raises(ValueError, match="'native' and 'emulated'"):
        resolve()
    monkeypatch.delenv(runtime.OVERRIDE_ENV)
    first = runtime.bf16_probe()
    assert first.source == "measured" and first.fp32_ms > 0 and first.bf16_ms > 0
    assert len(list((tmp_path / "cache" / "bf16-probe").glob("*.json"))) == 1
    again = runtime.bf16_probe()
    assert again.source == "cached" and again.speedup == pytest.approx(first.speedup)


def test_cpu_info_and_kind(tmp_path: Path) -> None:
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx avx2 fma\n\n"
                 "processor\t: 1\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx avx2 fma\n")
    cpu = runtime.cpu_info(str(f))
    assert cpu.model == "Some CPU" and cpu.kind.startswith("avx2") and cpu.native_bf16_flags == []
    f.write_text("model name\t: Other\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16\n")
    assert runtime.cpu_info(str(f)).kind == "amx_bf16"
    assert runtime.cpu_info(str(f)).flags_of_interest()["avx512_bf16"] is True


def test_cgroup_quota_caps_threads(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert runtime._cgroup_quota(str(tmp_path)) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert runtime._cgroup_quota(str(tmp_path)) is None
    assert 1 <= runtime.available_cores() <= (os.cpu_count() or 1)


def test_deprecated_bf16_keys_map_to_precision() -> None:
    from mote.pipeline.config import PipelineConfig
    from mote.train.config import TrainSection

    with pytest.warns(DeprecationWarning, match=r"train\.bf16 is deprecated.*train\.precision: bf16"):
        assert TrainSection.model_validate({"output_dir": "x", "bf16": True}).precision == "bf16"
    with pytest.warns(DeprecationWarning):
        assert TrainSection.model_validate({"output_dir": "x", "bf16": False}).precision == "fp32"
    with pytest.raises(ValueError, match="give only 'precision'"):
        TrainSection.model_validate({"output_dir": "x", "bf16": True, "precision": "auto"})
    with pytest.raises(ValueError, match="must be true or false"):
        TrainSection.model_validate({"output_dir": "x", "bf16": "yes please"})
    with pytest.warns(DeprecationWarning, match="budget.bf16"):
        cfg = PipelineConfig.model_validate({"recipe": "r.yaml", "output_dir": "o", "budget": {"bf16": True},
                                             "eval": {"bf16": False}})
    assert (cfg.budget.precision, cfg.eval.precision) == ("bf16", "fp32")


def test_no_preset_or_default_says_bf16() -> None:
    from mote.merge.config import MergeConfig
    from mote.pipeline.config import Budget, EvalSection
    from mote.train.config import TrainSection

    assert TrainSection.model_fields["precision"].default == "auto"
    assert Budget.model_fields["precision"].default == "auto"
    assert EvalSection.model_fields["precision"].default == "auto"
    assert MergeConfig.model_fields["precision"].default == "auto"
    repo = Path(__file__).resolve().parents[1]
    for path in [*repo.glob("configs/*.yaml"), *repo.glob("recipes/*.yaml")]:
        text = path.read_text()
        assert "bf16: true" not in text and "precision: bf16" not in text, path


def test_training_arguments_follow_the_resolved_precision(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mote.train.config import TrainConfig
    from mote.train.run import training_arguments

    cfg = TrainConfig.model_validate({"data": {"recipe": "r.yaml"}, "train": {"output_dir": str(tmp_path)}})
    monkeypatch.setenv(runtime.OVERRIDE_ENV, "emulated")
    args = training_arguments(cfg, tmp_path)
    assert (args.bf16, args.fp16, args.use_cpu) == (False, False, True)
    monkeypatch.setenv(runtime.OVERRIDE_ENV, "native")
    assert training_arguments(cfg, tmp_path).bf16 is True


def test_doctor_reports_machine_and_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtime.OVERRIDE_ENV, "emulated")
    res = runner.invoke(app, ["doctor", "--seconds", "0"])
    assert res.exit_code == 0, res.output
    for needle in ("CPU ", "avx2", "avx512_bf16", "amx_bf16", "precision  auto -> fp32", "torch 2.", "oneDNN",
                   "threads", "override"):
        assert needle in res.output, (needle, res.output)
    monkeypatch.setenv(runtime.OVERRIDE_ENV, "native")
    report = json.loads(runner.invoke(app, ["doctor", "--json", "--seconds", "0"]).stdout)
    assert report["precision"] == "bf16" and report["device"] == "cpu"
    assert set(report["cpu_flags"]) >= {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}
    assert report["torch"] == torch.__version__ and "encode_rate" not in report


def test_doctor_measures_encode_rate(minilm_dir: Path) -> None:
    rate = runtime.encode_rate("cpu", seconds=0.6, batch_size=8)
    assert rate["fp32_per_s"] > 0 and rate["bf16_per_s"] > 0
    assert rate["bf16_over_fp32"] == pytest.approx(rate["bf16_per_s"] / rate["fp32_per_s"], rel=1e-2)
