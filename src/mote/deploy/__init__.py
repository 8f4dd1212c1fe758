"""Deploying a model outside PyTorch: ``export`` (per-task ONNX / OpenVINO graphs) and ``ExportedModel``
(mote's thin runtime for an exported folder: tokenizer, graph, pooling, ``encode(texts, task=...)``)."""

from __future__ import annotations

from typing import Any

__all__ = ["ExportedModel", "export"]


def __getattr__(name: str) -> Any:  # light: onnxruntime / openvino / torch load only when used
    if name == "export":
        from mote.deploy.export import export

        return export
    if name == "ExportedModel":
        from mote.deploy.runtime import ExportedModel

        return ExportedModel
    raise AttributeError(name)
