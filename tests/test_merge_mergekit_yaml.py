"""`mote merge` on a mergekit-style YAML: the six shared methods give the weights of the equivalent native mote
config (and of mergekit's own per-tensor merge, where mergekit is installed); everything mote cannot honour is
refused in one error that names every unsupported key."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from conftest import make_tiny_st, perturbed_copy
from mote.cli import app
from mote.merge import load_merge_config, run_merge

runner = CliRunner()
Paths = dict[str, str]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``root/base``, ``root/ft0..ft2`` (fine-tunes of base); configs in ``root`` may name them relatively."""
    root = tmp_path_factory.mktemp("mergekit-yaml")
    shutil.copytree(make_tiny_st(root / "build", "bert"), root / "base")
    for i in range(3):
        perturbed_copy(root / "base", root / f"ft{i}", seed=i + 1)
    return root


def _paths(root: Path) -> Paths:
    return {k: str(root / k) for k in ("base", "ft0", "ft1", "ft2")}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _merge_cli(config: Path, *sets: str) -> Any:
    return runner.invoke(app, ["merge", str(config), *[a for s in sets for a in ("--set", s)]])


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


# -- each supported method: mergekit YAML == the native mote config written by hand ------------------
# (mergekit YAML text, native mote config, mergekit per-tensor reference: (method, input names, base index,
#  parameters) for mergekit.merge_methods.api.merge_tensors)
Case = tuple[str, dict[str, Any], tuple[str, list[str], int | None, dict[str, Any]]]


def _linear(p: Paths) -> Case:
    # mergekit adds base_model to a linear merge as one more input; its weight comes from the global parameters
    mk = f"""
merge_method: linear
base_model: {p['base']}
models:
  - model: {p['ft0']}
    parameters:
      weight: 2.0
  - model: {p['ft1']}
parameters:
  weight: 1.0
  normalize: true
dtype: float32
"""
    native = {"base": p["base"], "models": [p["ft0"], p["ft1"], p["base"]], "method": "linear",
              "parameters": {"weights": [2.0, 1.0, 1.0]}}
    return mk, native, ("linear", ["ft0", "ft1", "base"], None, {"weight": [2.0, 1.0, 1.0], "normalize": True})


def _task_arithmetic(p: Paths) -> Case:
    # relative paths: read next to the config file, as in native mote configs
    mk = """
models:
  - model: ft0
    parameters: {weight: 1.0}
  - model: ft1
    parameters: {weight: 0.5}
  - model: ft2
    parameters: {weight: 0.8}
merge_method: task_arithmetic
base_model: base
parameters:
  lambda: 0.7
  normalize: true
"""
    native = {"base": p["base"], "models": [p["ft0"], p["ft1"], p["ft2"]], "method": "task_arithmetic",
              "parameters": {"weights": [1.0, 0.5, 0.8], "lambda": 0.7, "normalize": True}}
    return mk, native, ("task_arithmetic", ["base", "ft0", "ft1", "ft2"], 0,
                        {"weight": [1.0, 0.5, 0.8], "lambda": 0.7, "normalize": True})


def _ties(p: Paths) -> Case:
    # mergekit's README shape: the base listed among the models without parameters; a global default density
    mk = f"""
models:
  - model: {p['base']}
    # no parameters necessary for base model
  - model: {p['ft0']}
    parameters:
      density: 0.5
      weight: 1.0
  - model: {p['ft1']}
    parameters:
      density: 0.5
      weight: 0.5
  - model: {p['ft2']}
    parameters:
      weight: 1.0
merge_method: ties
base_model: {p['base']}
parameters:
  normalize: true
  int8_mask: true
  density: 0.5
dtype: float32
"""
    native = {"base": p["base"], "models": [p["ft0"], p["ft1"], p["ft2"]], "method": "ties",
              "parameters": {"density": 0.5, "weights": [1.0, 0.5, 1.0]}}
    return mk, native, ("ties", ["base", "ft0", "ft1", "ft2"], 0,
                        {"density": 0.5, "weight": [1.0, 0.5, 1.0], "normalize": True})


def _dare_linear(p: Paths) -> Case:
    mk = f"""
merge_method: dare_linear
base_model: {p['base']}
models:
  - model: {p['ft0']}
    parameters: {{weight: 0.6}}
  - model: {p['ft1']}
    parameters: {{weight: 0.4}}
parameters:
  density: 0.6
  rescale: true
  lambda: 1.2
"""
    native = {"base": p["base"], "models": [p["ft0"], p["ft1"]], "method": "dare_linear",
              "parameters": {"density": 0.6, "weights": [0.6, 0.4], "lambda": 1.2, "rescale": "l1"}}
    return mk, native, ("dare_linear", ["base", "ft0", "ft1"], 0,
                        {"density": 0.6, "weight": [0.6, 0.4], "lambda": 1.2, "rescale": True})


def _dare_ties(p: Paths) -> Case:
    # values that are one value everywhere in mergekit's syntax: a filter-less condition, a one-point gradient
    mk = f"""
merge_method: dare_ties
base_model: {p['base']}
models:
  - model: {p['ft0']}
    parameters:
      weight: {{value: 1.0}}
      density: [0.7]
  - model: {p['ft1']}
    parameters:
      weight: [{{value: 0.5}}]
      density: 0.7
  - model: {p['ft2']}
    parameters: {{weight: 1.0, density: 0.7}}
parameters:
  rescale: false
  normalize: true
"""
    native = {"base": p["base"], "models": [p["ft0"], p["ft1"], p["ft2"]], "method": "dare_ties",
              "parameters": {"density": 0.7, "weights": [1.0, 0.5, 1.0], "rescale": "none", "normalize": True}}
    return mk, native, ("dare_ties", ["base", "ft0", "ft1", "ft2"], 0,
                        {"density": 0.7, "weight": [1.0, 0.5, 1.0], "rescale": False, "normalize": True})


def _slerp(p: Paths) -> Case:
    # mergekit: t = 0 is base_model (added as the second input here), t = 1 the other model; mote's slerp
    # moves from its first model to its second, so base_model goes first
    mk = f"""
merge_method: slerp
base_model: {p['ft1']}
models:
  - model: {p['ft0']}
parameters:
  t: 0.3
dtype: float32
"""
    native = {"base": p["base"], "models": [p["ft1"], p["ft0"]], "method": "slerp", "parameters": {"t": 0.3}}
    return mk, native, ("slerp", ["ft1", "ft0"], 0, {"t": 0.3})


CASES: dict[str, Callable[[Paths], Case]] = {
    "linear": _linear, "task_arithmetic": _task_arithmetic, "ties": _ties,
    "dare_linear": _dare_linear, "dare_ties": _dare_ties, "slerp": _slerp,
}


@pytest.mark.parametrize("method", sorted(CASES))
def test_mergekit_yaml_merges_like_the_native_config(work: Path, method: str) -> None:
    p = _paths(work)
    mk_text, native, reference = CASES[method](p)
    mk = _write(work / f"mk-{method}.yaml", mk_text)
    out = work / f"out-mk-{method}"
    res = _merge_cli(mk, f"out={out}", "progress=false")
    assert res.exit_code == 0, res.output
    assert "error" not in res.output

    nat = _write(work / f"native-{method}.yaml",
                 yaml.safe_dump({**native, "out": str(work / f"out-native-{method}"), "progress": False}))
    expected = _weights(run_merge(nat))
    got = _weights(out)
    assert got.keys() == expected.keys()
    for name in expected:
        assert torch.equal(got[name], expected[name]), name

    report = json.loads((out / "merge_report.json").read_text())
    assert report["method"] == method
    saved = yaml.safe_load((out / "merge_config.yaml").read_text())  # the translated, native config
    assert saved["method"] == method and saved["models"] == native["models"]

    # mergekit itself, tensor by tensor, where it is installed (same check as tests/test_merge_methods.py)
    try:
        from mergekit.merge_methods.api import merge_tensors
    except ImportError:
        return
    mk_method, inputs, base_index, params = reference
    models = {k: _weights(Path(p[k])) for k in set(inputs)}
    torch.manual_seed(0)  # DARE: mote's default seed 0 is mergekit's stream after torch.manual_seed(0)
    for name in sorted(got):
        want = merge_tensors([models[k][name] for k in inputs], mk_method, parameters=params, base_index=base_index)
        torch.testing.assert_close(got[name], want, rtol=1e-5, atol=1e-6, msg=name)


def test_load_merge_config_translates_names_and_keeps_every_mote_check(work: Path) -> None:
    p = _paths(work)
    mk = _write(work / "mk-load.yaml", _ties(p)[0])
    cfg = load_merge_config(mk, overrides=[f"out={work / 'never'}"])
    assert cfg.method == "ties" and cfg.base == p["base"] and cfg.models == [p["ft0"], p["ft1"], p["ft2"]]
    assert cfg.parameters["weights"] == [1.0, 0.5, 1.0] and cfg.parameters["density"] == 0.5
    # a top-level density is only the default: ft2 would get 1.5 while ft0 and ft1 keep their own 0.5
    with pytest.raises(ValueError, match=r"densities differ .*ft1: 0.5, .*ft2: 1.5\)"):
        load_merge_config(mk, overrides=[f"out={work / 'never'}", "parameters.density=1.5"])
    # the translated config goes through mote's own validation: ranges, types, model counts
    dare = _write(work / "mk-load-dare.yaml", _dare_linear(p)[0])
    with pytest.raises(ValueError, match=r"density=1.5 is not allowed") as e:
        load_merge_config(dare, overrides=[f"out={work / 'never'}", "parameters.density=1.5"])
    assert "a mergekit YAML, read as mote's method: dare_linear" in str(e.value)
    # overrides use the file's own (mergekit) names
    cfg = load_merge_config(dare, overrides=[f"out={work / 'never'}", "parameters.density=0.3",
                                             "parameters.rescale=false"])
    assert cfg.parameters["density"] == 0.3 and cfg.parameters["rescale"] == "none"


# -- refusals: one error naming every unsupported key -------------------------------------------------
def _one_error(res: Any) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, res.output
    assert res.output.count("error:") == 1, res.output
    return str(res.output)


def test_mergekit_slerp_example_lists_every_unsupported_key(work: Path) -> None:
    """mergekit's canonical SLERP example: slices, per-tensor t gradients, bf16, a union tokenizer, no out."""
    p = _paths(work)
    mk = _write(work / "mk-slerp-example.yaml", f"""
slices:
  - sources:
      - model: {p['ft0']}
        layer_range: [0, 4]
      - model: {p['ft1']}
        layer_range: [0, 4]
merge_method: slerp
base_model: {p['ft0']}
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5
dtype: bfloat16
tokenizer_source: union
""")
    out = _one_error(_merge_cli(mk))
    for needle in ("slices", "parameters.t", "self_attn", "dtype", "bfloat16", "tokenizer_source", "union",
                   "--set out="):
        assert needle in out, (needle, out)
    assert not (work / "out").exists()


def test_unsupported_keys_of_a_ties_config_are_listed_together(work: Path) -> None:
    p = _paths(work)
    mk = _write(work / "mk-ties-bad.yaml", f"""
merge_method: ties
base_model: {p['base']}
models:
  - model: {p['ft0']}+{p['ft2']}
    parameters: {{weight: 1.0, density: 0.5}}
  - model: {p['ft1']}
    parameters:
      weight: [0.2, 1.0]
      density: 0.7
      normalize: false
parameters:
  rescale: true
  epsilon: 0.1
out_dtype: float16
chat_template: chatml
colour: red
out: {work / 'never'}
""")
    out = _one_error(_merge_cli(mk))
    for needle in ("+", "LoRA", "models[1].parameters.weight", "gradient", "density", "0.5", "0.7",
                   "models[1].parameters.normalize", "parameters.rescale", "parameters.epsilon", "out_dtype",
                   "float16", "chat_template", "colour"):
        assert needle in out, (needle, out)
    assert not (work / "never").exists()


@pytest.mark.parametrize(
    ("method", "needles"),
    [
        ("tie", ['Did you mean "ties"']),
        ("dare-ties", ['Did you mean "dare_ties"']),
        ("breadcrumbs", ["breadcrumbs", "not", "linear, task_arithmetic, ties, dare_linear, dare_ties, slerp"]),
        ("della_linear", ["della_linear", "linear, task_arithmetic, ties, dare_linear, dare_ties, slerp"]),
        ("fisher", ["native mote config", "method: fisher"]),
    ],
)
def test_unknown_or_unsupported_merge_method(work: Path, method: str, needles: list[str]) -> None:
    p = _paths(work)
    mk = _write(work / f"mk-method-{method}.yaml", f"""
merge_method: {method}
base_model: {p['base']}
models:
  - model: {p['ft0']}
  - model: {p['ft1']}
out: {work / 'never'}
""")
    out = _one_error(_merge_cli(mk))
    assert f"'{method}'" in out
    for needle in needles:
        assert needle in out, (needle, out)


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        # mote has no output key in mergekit's format: it must be given
        ("merge_method: ties\nbase_model: {base}\nmodels: [{{model: {ft0}}}, {{model: {ft1}}}]\n",
         ["out", "--set out="]),
        # a native mote key in a mergekit file
        ("merge_method: ties\nmethod: ties\nbase_model: {base}\nmodels: [{{model: {ft0}}}]\nout: {never}\n",
         ["'method'", "merge_method"]),
        # task-vector methods need the base
        ("merge_method: task_arithmetic\nmodels: [{{model: {ft0}}}, {{model: {ft1}}}]\nout: {never}\n",
         ["base_model", "missing"]),
        # slerp is between base_model and exactly one other model
        ("merge_method: slerp\nbase_model: {base}\nmodels: [{{model: {ft0}}}, {{model: {ft1}}}]\n"
         "parameters: {{t: 0.5}}\nout: {never}\n", ["slerp", "exactly one other model", "2"]),
        # mergekit needs a weight for every input once any has one
        ("merge_method: linear\nmodels: [{{model: {ft0}, parameters: {{weight: 1.0}}}}, {{model: {ft1}}}]\n"
         "out: {never}\n", ["weight: given for some models but not for models[1] ('{ft1}')"]),
        # one density for all models
        ("merge_method: dare_linear\nbase_model: {base}\nmodels: [{{model: {ft0}, parameters: {{density: 0.4}}}},"
         " {{model: {ft1}, parameters: {{density: 0.6}}}}]\nout: {never}\n",
         ["densities differ ({ft0}: 0.4, {ft1}: 0.6)", "one density"]),
        # a per-model slerp t is ignored by mergekit: say so instead of dropping it
        ("merge_method: slerp\nbase_model: {base}\nmodels: [{{model: {ft0}, parameters: {{t: 0.2}}}}]\n"
         "out: {never}\n", ["models[0].parameters.t", "top-level parameters"]),
        # models given as slices-free but with an unknown per-model key
        ("merge_method: ties\nbase_model: {base}\nmodels: [{{model: {ft0}, paramters: {{weight: 1}}}}]\n"
         "out: {never}\n", ["paramters", 'Did you mean "parameters"']),
    ],
)
def test_single_problems_name_key_value_and_fix(work: Path, body: str, needles: list[str]) -> None:
    p = {**_paths(work), "never": str(work / "never")}
    mk = _write(work / "mk-problem.yaml", body.format(**p))
    out = _one_error(_merge_cli(mk))
    for needle in needles:
        assert needle.format(**p) in out, (needle, out)
    assert not (work / "never").exists()


def test_native_configs_are_not_mistaken_for_mergekit(work: Path) -> None:
    p = _paths(work)
    native = _write(work / "native-typo.yaml", yaml.safe_dump(
        {"base": p["base"], "models": [p["ft0"], p["ft1"]], "method": "linear", "base_model": p["base"],
         "out": str(work / "never")}))
    with pytest.raises(ValueError, match=r"Unknown key 'base_model'"):
        load_merge_config(native)


# -- progress bars -------------------------------------------------------------------------------------
def test_statistics_pass_shows_a_progress_bar(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _paths(work)
    probe = work / "probe.jsonl"
    probe.write_text("".join(json.dumps({"anchor": f"a cat {i}", "positive": f"the cat {i}", "task": "query"}) + "\n"
                             for i in range(6)), encoding="utf-8")
    cfg = _write(work / "fisher.yaml", yaml.safe_dump(
        {"base": p["base"], "models": [p["ft0"], p["ft1"]], "method": "fisher",
         "probe": {"jsonl": str(probe), "size": 6}, "out": str(work / "out-fisher"), "progress": True}))
    run_merge(cfg)
    err = capsys.readouterr().err
    assert "statistics" in err and "merge:fisher" in err
    run_merge(cfg, overrides=["overwrite=true", "progress=false"])
    assert "statistics" not in capsys.readouterr().err
