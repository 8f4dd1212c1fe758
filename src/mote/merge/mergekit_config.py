"""mergekit-style merge YAML -> mote's merge config, for the methods both implement.

``mote merge`` accepts a mergekit YAML (``merge_method``, ``base_model``, ``models: [{model, parameters}]``,
``parameters``, ``dtype`` ...) for ``linear``, ``task_arithmetic``, ``ties``, ``dare_linear``, ``dare_ties`` and
``slerp``. :func:`from_mergekit` translates the mapping into a native mote config mapping (``method``, ``base``,
``models``, ``parameters``) that :func:`mote.merge.config.load_merge_config` then validates like any mote
config, so every range, type and model-count check still applies. Semantics follow mergekit 0.1.5:

- per-model ``weight`` / ``density`` (a top-level value is the default for every model) become mote's
  ``weights`` list and its one ``density``; mergekit's per-method ``normalize`` / ``rescale`` defaults are
  written out explicitly; ``rescale: true|false`` is mote's ``rescale: l1|none``;
- ``linear`` with a ``base_model``: mergekit averages the base in as one more input (last), so mote does too;
- ``slerp``: ``t`` moves from ``base_model`` (t = 0) to the other model (t = 1); mote's ``slerp`` moves from
  its first model to its second, so ``base_model`` goes first;
- task-vector methods: ``base_model`` is mote's ``base``; a ``models`` entry naming the base is the base, not a
  fine-tune (mergekit ignores its parameters too);
- ``weight`` and slerp's ``t``, which mergekit requires, take mote's defaults (1 per model, 0.5) when no
  model and no top-level entry gives them; given for some inputs only, they are refused (as in mergekit).

Anything mote cannot honour (``slices``, ``modules``, per-tensor filters and layer gradients, a merged or
foreign tokenizer, ``dtype`` other than float32, LoRA or revision references, methods mote lacks ...) is
refused in ONE error that lists every such key with the value received, what is allowed and the fix. Keys
that do not change mergekit's result (``int8_mask``; ``density``/``rescale`` of ``task_arithmetic``, which
mergekit ignores) are accepted. mergekit takes the output folder on its command line; mote needs ``out``
(``--set out=FOLDER``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from mote._errors import did_you_mean, unknown_name

SUPPORTED = ("linear", "task_arithmetic", "ties", "dare_linear", "dare_ties", "slerp")
TASK_VECTOR = ("task_arithmetic", "ties", "dare_linear", "dare_ties")
# mergekit 0.1.5's other methods: named as such in the error, not as typos
MERGEKIT_ONLY = ("arcee_fusion", "breadcrumbs", "breadcrumbs_ties", "della", "della_linear", "karcher",
                 "model_stock", "multislerp", "nearswap", "nuslerp", "passthrough", "ram", "ramplus_tl", "sce")
# mote methods that have no mergekit counterpart (a native mote config runs them)
MOTE_ONLY = ("fisher", "regmean", "self_positioning", "slerp_task_vector")

# mergekit's parameters per method: read only from the top level (shared), or per model with a top-level default
SHARED: dict[str, tuple[str, ...]] = {
    "linear": ("normalize",), "slerp": ("t",),
    **{m: ("normalize", "lambda", "rescale", "int8_mask") for m in TASK_VECTOR},
}
PER_MODEL: dict[str, tuple[str, ...]] = {
    "linear": ("weight",), "slerp": (), **{m: ("weight", "density") for m in TASK_VECTOR},
}
MOTE_EXTRA: dict[str, tuple[str, ...]] = {"dare_linear": ("seed",), "dare_ties": ("seed",)}  # mergekit: --random-seed
DEFAULT_NORMALIZE = {"linear": True, "task_arithmetic": False, "ties": True, "dare_linear": False, "dare_ties": False}
DEFAULT_RESCALE = {"task_arithmetic": False, "ties": False, "dare_linear": True, "dare_ties": True}

MERGEKIT_KEYS = ("merge_method", "base_model", "models", "parameters", "dtype", "out_dtype", "slices", "modules",
                 "tokenizer_source", "tokenizer", "chat_template")
RUN_KEYS = ("out", "overwrite", "progress", "device", "precision")  # mote's own keys, allowed in a mergekit file
NATIVE_ONLY = ("method", "base", "mote_model", "model_tasks", "probe")
FLOAT32 = (None, "float32", "torch.float32")
EXAMPLE = {"weight": "1.0", "density": "0.5", "t": "0.5", "lambda": "1.0", "normalize": "true", "rescale": "true"}
DOCS = 'docs/merging.md, section "mergekit YAML"'

_BAD = object()  # a value already reported as a problem
log = logging.getLogger(__name__)


def is_mergekit_config(data: Mapping[str, Any]) -> bool:
    """True for a mapping in mergekit's shape: ``merge_method``, or (without mote's ``method``) ``slices``,
    ``modules``, ``base_model`` or ``models`` entries written as ``{model: ...}``."""
    if "merge_method" in data:
        return True
    if "method" in data:
        return False
    models = data.get("models")
    return any(k in data for k in ("slices", "modules", "base_model")) or (
        isinstance(models, list) and any(isinstance(m, dict) and "model" in m for m in models))


def from_mergekit(data: Mapping[str, Any], source: str = "merge config") -> dict[str, Any]:
    """The native mote config mapping for a mergekit YAML mapping; raises one ValueError listing every problem."""
    problems: list[str] = []
    out: dict[str, Any] = {k: data[k] for k in RUN_KEYS if k in data}
    _check_top_level(data, problems)
    method = _method(data.get("merge_method"), problems)
    base = _reference("base_model", data["base_model"], problems) if data.get("base_model") is not None else None
    entries = _entries(data, problems)
    shared = data.get("parameters") or {}
    if not isinstance(shared, dict):
        problems.append(f"parameters: got {_show(shared)}; expected a mapping, e.g. parameters: {{normalize: true}}.")
        shared = {}
    if method is not None and entries is not None:
        translated = _translate(method, base, entries, shared, problems)
        if translated is not None:
            out.update(translated)
    elif method is not None:  # no usable models: still report what the parameters hold
        _parameters(method, shared, [], problems)
    else:  # unknown method: at least the values that no method of mote can take
        for key, setting in shared.items():
            _one_value(f"parameters.{key}", str(key), setting, problems)
    if "out" not in data:
        problems.append("out: missing. mergekit takes the output folder on its command line; mote needs it: "
                        "add --set out=FOLDER to `mote merge` (or a line `out: FOLDER` to the file).")
    if problems:
        n = len(problems)
        raise ValueError(
            f"{source} is a mergekit YAML that mote cannot run as written ("
            f"{f'{n} problems; fix each' if n > 1 else '1 problem'}):\n" + "\n".join(f"  - {p}" for p in problems)
            + f"\nmote runs these mergekit methods from a mergekit YAML: {', '.join(SUPPORTED)} (see {DOCS})."
        )
    return out


# -- top level ------------------------------------------------------------------------------------------
def _check_top_level(data: Mapping[str, Any], problems: list[str]) -> None:
    for key in data:
        if key in MERGEKIT_KEYS or key in RUN_KEYS:
            continue
        if key in NATIVE_ONLY:
            problems.append(
                f"{key!r}: a key of mote's native merge config, in a mergekit YAML. Fix: write the merge in "
                "mergekit's names (merge_method, base_model, models: [{model: PATH, parameters: {...}}], "
                "parameters) or the whole file in mote's (method, base, models, parameters, out)."
            )
        else:
            allowed = [*MERGEKIT_KEYS, *RUN_KEYS]
            problems.append(f"{key!r}: unknown key. Keys of a mergekit YAML: {', '.join(MERGEKIT_KEYS)}; plus "
                            f"mote's {', '.join(RUN_KEYS)}.{did_you_mean(str(key), allowed)}")
    if data.get("slices") is not None:
        problems.append(f"slices: got {_show(data['slices'])}; mote merges whole models, not layer ranges. Fix: "
                        "list the models under `models:` (- model: PATH with its parameters), or run this file "
                        "with mergekit.")
    if data.get("modules") is not None:
        problems.append(f"modules: got {_show(data['modules'])}; mote merges whole models, not per-module "
                        "definitions. Fix: list the models under `models:`, or run this file with mergekit.")
    for key in ("dtype", "out_dtype"):
        if data.get(key) not in FLOAT32:
            problems.append(f"{key}: got {_show(data[key])}; mote merges in float32 (float64 for linear sums and "
                            "SLERP angles) and writes the base model's dtype, so it honours only float32 (or no "
                            f"{key}). Fix: remove {key}, or set float32.")
    tok = data.get("tokenizer_source")
    if tok is not None and tok != "base" and tok != data.get("base_model"):
        problems.append(f"tokenizer_source: got {_show(tok)}; mote keeps the base model's tokenizer "
                        "(mergekit's tokenizer_source: base) and cannot build a union or another model's "
                        "vocabulary. Fix: remove tokenizer_source, or set base.")
    if data.get("tokenizer") is not None:
        problems.append(f"tokenizer: got {_show(data['tokenizer'])}; mote keeps the base model's tokenizer and "
                        "does not add or permute tokens. Fix: remove tokenizer.")
    if data.get("chat_template") is not None:
        problems.append(f"chat_template: got {_show(data['chat_template'])}; a sentence-transformers model carries "
                        "no chat template. Fix: remove chat_template.")


def _method(value: Any, problems: list[str]) -> str | None:
    if value is None:
        problems.append(f"merge_method: missing. Fix: add merge_method: one of {', '.join(SUPPORTED)}.")
        return None
    name = str(value)
    if name in SUPPORTED:
        return name
    if name in MERGEKIT_ONLY:
        problems.append(f"merge_method: got {name!r}, a mergekit method that mote does not implement (not "
                        f"supported). mote runs these from a mergekit YAML: {', '.join(SUPPORTED)}. Fix: pick one "
                        "of those, or run this file with mergekit.")
    elif name in MOTE_ONLY:
        problems.append(f"merge_method: got {name!r}, a mote method that mergekit does not have. Fix: write a "
                        f"native mote config (method: {name}, base: PATH, models: [PATHS], parameters: {{...}}, "
                        "out: FOLDER; see docs/merging.md).")
    else:
        problems.append(f"merge_method: {unknown_name('merge_method', name, SUPPORTED)}")
    return None


def _reference(where: str, value: Any, problems: list[str]) -> str | None:
    """A model reference mote can resolve (a folder or hub id), else a problem."""
    if not isinstance(value, str):
        problems.append(f"{where}: got {_show(value)}; mote takes a model as one string (a folder or hub id). "
                        f"Fix: {where}: PATH.")
        return None
    if "+" in value:
        problems.append(f"{where}: got {value!r}, mergekit's MODEL+LORA (a LoRA adapter applied to a model); mote "
                        "merges full model folders. Fix: merge the adapter into its model first (e.g. PEFT's "
                        "merge_and_unload) and give that folder.")
        return None
    if value.count("@") == 1:
        problems.append(f"{where}: got {value!r}, mergekit's MODEL@REVISION; mote resolves folders and hub ids "
                        "without revisions. Fix: download that revision and give its folder.")
        return None
    return value


def _entries(data: Mapping[str, Any], problems: list[str]) -> list[tuple[str, str, dict[str, Any]]] | None:
    """``models`` as ``(where, reference, parameters)``; None when missing or unusable."""
    models = data.get("models")
    if models is None:
        if data.get("slices") is None and data.get("modules") is None:
            problems.append("models: missing. Fix: list the models to merge, e.g. models: [{model: PATH, "
                            "parameters: {weight: 1.0}}].")
        return None
    if not isinstance(models, list) or not models:
        problems.append(f"models: got {_show(models)}; expected a non-empty list of {{model: PATH, parameters: "
                        "{...}} entries.")
        return None
    out: list[tuple[str, str, dict[str, Any]]] = []
    seen: set[str] = set()
    for i, entry in enumerate(models):
        where = f"models[{i}]"
        params: Any = {}
        if isinstance(entry, dict):
            for key in entry:
                if key not in ("model", "parameters"):
                    problems.append(f"{where}.{key}: unknown key of a models entry; an entry is {{model: PATH, "
                                    f"parameters: {{...}}}}.{did_you_mean(str(key), ['model', 'parameters'])}")
            if "model" not in entry:
                problems.append(f"{where}: no `model`; an entry is {{model: PATH, parameters: {{...}}}}.")
                continue
            ref = _reference(f"{where}.model", entry["model"], problems)
            params = entry.get("parameters") or {}
            if not isinstance(params, dict):
                problems.append(f"{where}.parameters: got {_show(params)}; expected a mapping, e.g. "
                                "{weight: 1.0}.")
                params = {}
        else:
            ref = _reference(where, entry, problems)
        if ref is None:  # reported; its parameters are still checked
            raw = entry.get("model") if isinstance(entry, dict) else entry
            ref = raw if isinstance(raw, str) else f"<{where}>"
        elif ref in seen:
            problems.append(f"{where}: {ref!r} is listed twice. Fix: list each model once.")
        seen.add(ref)
        out.append((where, ref, params))
    return out


# -- parameter values ---------------------------------------------------------------------------------
def _one_value(where: str, name: str, setting: Any, problems: list[str]) -> Any:
    """A mergekit parameter setting that is one value for every tensor; anything per tensor is a problem."""
    fix = (f"Fix: give one value for every tensor (e.g. {name}: {EXAMPLE.get(name, '...')}), or run this file "
           "with mergekit.")
    if isinstance(setting, bool | int | float | str):
        return setting
    if isinstance(setting, dict):
        extra = [k for k in setting if k not in ("value", "filter")]
        if extra or "value" not in setting:
            problems.append(f"{where}: got {_show(setting)}; a condition is {{filter: NAME, value: X}}. {fix}")
            return _BAD
        if setting.get("filter") not in (None, "*"):
            problems.append(f"{where}: got {_show(setting)}: a per-tensor filter ({setting['filter']!r}); mote "
                            f"applies one value to every tensor. {fix}")
            return _BAD
        return _one_value(where, name, setting["value"], problems)
    if isinstance(setting, list) and setting:
        if all(isinstance(e, dict) for e in setting):
            # mergekit takes the first condition that matches a tensor: a first one without filter matches all
            if setting[0].get("filter") in (None, "*"):
                return _one_value(where, name, setting[0], problems)
            filters = ", ".join(repr(e.get("filter")) for e in setting if e.get("filter") not in (None, "*"))
            problems.append(f"{where}: got {_show(setting)}: per-tensor filters ({filters}); mote applies one value "
                            f"to every tensor. {fix}")
            return _BAD
        if all(isinstance(e, bool | int | float | str) for e in setting):
            if all(e == setting[0] and type(e) is type(setting[0]) for e in setting):
                return setting[0]  # a gradient of equal points is one value
            per_model = " (one weight per model goes on each models entry)" if name == "weight" else ""
            problems.append(f"{where}: got {_show(setting)}: a gradient over the layers (mergekit interpolates "
                            f"it from the first layer to the last); mote applies one value to every "
                            f"tensor{per_model}. {fix}")
            return _BAD
    problems.append(f"{where}: got {_show(setting)}; expected one value, e.g. {name}: {EXAMPLE.get(name, '...')}.")
    return _BAD


def _parameters(method: str, shared: Mapping[str, Any], entries: Sequence[tuple[str, str, dict[str, Any]]],
                problems: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The top-level values and each model's own, resolved to one value each (``_BAD`` where reported)."""
    top_names = [*SHARED[method], *PER_MODEL[method], *MOTE_EXTRA.get(method, ())]
    top: dict[str, Any] = {}
    for key, setting in shared.items():
        where = f"parameters.{key}"
        if key not in top_names:
            problems.append(f"{where}: mergekit's {method} has no parameter {key!r}; its parameters: "
                            f"{', '.join(top_names) or 'none'}.{did_you_mean(str(key), top_names)}")
        elif key == "seed":
            top[key] = setting  # mote's own (mergekit: --random-seed); validated by mote
        else:
            top[key] = _one_value(where, key, setting, problems)
    own: list[dict[str, Any]] = []
    for where, _, params in entries:
        values: dict[str, Any] = {}
        for key, setting in params.items():
            at = f"{where}.parameters.{key}"
            if key in PER_MODEL[method]:
                values[key] = _one_value(at, key, setting, problems)
            elif key in SHARED[method]:
                problems.append(f"{at}: mergekit reads {key} only from the top-level parameters (it ignores it "
                                f"on a model). Fix: move it to the top-level parameters.")
            else:
                allowed = PER_MODEL[method]
                listed = ", ".join(allowed) or "none (slerp reads t from the top-level parameters)"
                problems.append(f"{at}: mergekit's {method} has no per-model parameter {key!r}; per-model "
                                f"parameters: {listed}.{did_you_mean(str(key), [*allowed, *SHARED[method]])}")
        own.append(values)
    return top, own


# -- per method -----------------------------------------------------------------------------------------
def _translate(method: str, base: str | None, entries: list[tuple[str, str, dict[str, Any]]],
               shared: Mapping[str, Any], problems: list[str]) -> dict[str, Any] | None:
    top, own = _parameters(method, shared, entries, problems)
    refs = [ref for _, ref, _ in entries]
    params: dict[str, Any] = {}
    if method == "slerp":
        if base is None:
            problems.append("base_model: missing; mergekit's slerp moves from base_model (t = 0) to the other "
                            "model (t = 1). Fix: add base_model: PATH (one of the two models).")
            return None
        others = [r for r in refs if r != base]
        if len(others) != 1:
            problems.append(f"models: slerp interpolates between base_model and exactly one other model; got "
                            f"{len(others)} other models ({', '.join(map(repr, others)) or 'none'}). Fix: list "
                            "two models, one of them base_model (mote's slerp_task_vector or linear take more).")
            return None
        if "t" in top:
            params["t"] = top["t"]
        return {"base": base, "models": [base, others[0]], "method": "slerp", "parameters": params}

    if method == "linear":
        inputs = list(zip([w for w, _, _ in entries], refs, own, strict=True))
        if base is not None and base not in refs:  # mergekit averages base_model in as one more input
            inputs.append(("base_model", base, {}))
        _weights(params, inputs, top, problems)
        params["normalize"] = top.get("normalize", DEFAULT_NORMALIZE[method])
        return {"base": base if base is not None else refs[0], "models": [r for _, r, _ in inputs],
                "method": method, "parameters": params}

    # task-vector methods: base_model is theta_0; an entry naming it is the base, not a fine-tune
    if base is None:
        problems.append(f"base_model: missing; {method} merges task vectors (model - base_model). Fix: add "
                        "base_model: PATH, the model the others were fine-tuned from.")
        return None
    inputs = [(w, r, o) for (w, r, _), o in zip(entries, own, strict=True) if r != base]
    if not inputs:
        problems.append(f"models: only base_model is listed; {method} needs at least one fine-tune of it.")
        return None
    _weights(params, inputs, top, problems)
    densities = [(r, o.get("density", top.get("density", 1.0))) for _, r, o in inputs]
    rescale = top.get("rescale", DEFAULT_RESCALE[method])
    if method == "task_arithmetic":
        ignored = sorted({k for k in ("density", "rescale") if k in top} | {"density" for o in own if "density" in o})
        if ignored:
            log.warning("mergekit's task_arithmetic does not sparsify and ignores %s; so does mote.",
                        ", ".join(ignored))
    elif _BAD not in [d for _, d in densities]:
        if len({d for _, d in densities}) > 1:
            listed = ", ".join(f"{r}: {d}" for r, d in densities)
            problems.append(f"density: the models' densities differ ({listed}); mote's {method} uses one density "
                            "for every model. Fix: give one density (under parameters, or the same on every model).")
        else:
            params["density"] = densities[0][1]
    if method == "ties":
        if rescale is not _BAD and rescale not in (False, "none"):
            problems.append(f"parameters.rescale: got {_show(rescale)}; mergekit's ties with rescale rescales the "
                            "trimmed task vectors to their L1 norm, mote's ties never rescales. Fix: remove rescale "
                            "(or false), or use dare_ties.")
    elif method in ("dare_linear", "dare_ties") and rescale is not _BAD:
        params["rescale"] = {True: "l1", False: "none"}.get(rescale, rescale) if isinstance(rescale, bool) else rescale
    if "lambda" in top:
        params["lambda"] = top["lambda"]
    params["normalize"] = top.get("normalize", DEFAULT_NORMALIZE[method])
    if "seed" in top:
        params["seed"] = top["seed"]
    if any(v is _BAD for v in params.values()):
        return None
    return {"base": base, "models": [r for _, r, _ in inputs], "method": method, "parameters": params}


def _weights(params: dict[str, Any], inputs: Sequence[tuple[str, str, dict[str, Any]]], top: Mapping[str, Any],
             problems: list[str]) -> None:
    """mote's ``weights``: each input's own weight, else the top-level one; none at all: mote's default (1 each)."""
    weights = [o.get("weight", top.get("weight")) for _, _, o in inputs]
    if _BAD in weights or all(w is None for w in weights):
        return
    missing = [f"{w} ({r!r})" for (w, r, _), x in zip(inputs, weights, strict=True) if x is None]
    if missing:
        note = (" (mergekit averages base_model into a linear merge as one more input)"
                if any(w == "base_model" for w, _, _ in inputs) else "")
        problems.append(f"weight: given for some models but not for {', '.join(missing)}{note}; mergekit needs a "
                        "weight for every input once any has one (mote defaults to 1 each only when none has "
                        "one). Fix: add weight to those models, or a default weight under the top-level parameters.")
        return
    params["weights"] = weights


def _show(value: Any) -> str:
    """A short YAML rendering of a received value."""
    if isinstance(value, str):
        return repr(value)
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()
    text = text.removesuffix("...").strip()
    return text if len(text) <= 120 else text[:117] + "..."
