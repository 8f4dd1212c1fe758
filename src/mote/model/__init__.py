"""The MoTE model: the transformers encoder with task experts, its sentence-transformers face, and their files.

Modules: ``hf`` (``MoteConfig``/``MoteModel``, ``model_type="mote"``), ``routing`` (expert banks, the route of a
batch), ``upcycle`` (dense FFN -> experts, Expert Averaging's arithmetic), ``sentence`` (``upcycle``, ``load``,
``encode``, ``average``, ``info`` on sentence-transformers models), ``card`` (model cards), ``io``/``weights``
(atomic writes, folder checks, safetensors), ``resolve`` (model references), ``architectures``.

The names below load on first use: importing ``mote.model.resolve`` (or this package) stays free of torch.
"""

from __future__ import annotations

import importlib

_API = {
    "MoteConfig": "hf", "MoteModel": "hf", "upcycle": "sentence", "load": "sentence", "encode": "sentence",
    "average": "sentence", "info": "sentence", "is_mote": "sentence", "mote_model": "sentence",
    "resolve_model": "resolve",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> object:
    if name in _API:
        return getattr(importlib.import_module(f"mote.model.{_API[name]}"), name)
    raise AttributeError(f"module 'mote.model' has no attribute {name!r}")
