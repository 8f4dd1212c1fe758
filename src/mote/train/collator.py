"""Per-row routing for mixed-task batches.

Single-task datasets are routed per column by sentence-transformers' own ``router_mapping``. A mixed
dataset (tasks with ``batching: mixed`` merged into one) carries each row's routes as task indices in
``_route_anchor`` and ``_route_candidates`` (ints, which the batch sampler is told to ignore). This collator
prepends each row's instruction and adds ``{column}_task_ids``, which sentence-transformers passes to the
model as the ``task_ids`` argument of ``MoteModel.forward``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator

ROUTE_ANCHOR = "_route_anchor"
ROUTE_CANDIDATES = "_route_candidates"


@dataclass
class MoteDataCollator(SentenceTransformerDataCollator):  # type: ignore[misc]
    task_names: list[str] = field(default_factory=list)  # index -> task name
    instructions: dict[str, str] = field(default_factory=dict)  # task name -> prefix; empty: no prefixes
    routed: bool = True  # False for dense models: instructions only, no task ids

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if not features or ROUTE_ANCHOR not in features[0]:
            return dict(super().__call__(features))
        rows, routes = [], []
        for row in features:
            route = {"anchor": row[ROUTE_ANCHOR], "other": row[ROUTE_CANDIDATES]}
            clean = {k: v for k, v in row.items() if not k.startswith("_route")}
            for col, value in clean.items():
                if isinstance(value, str) and col != "dataset_name":
                    task = self.task_names[route["anchor"] if col == "anchor" else route["other"]]
                    clean[col] = self.instructions.get(task, "") + value
            rows.append(clean)
            routes.append(route)
        batch = dict(super().__call__(rows))
        if not self.routed:
            return batch
        for key in [k for k in batch if k.endswith("_input_ids")]:
            col = key[: -len("_input_ids")]
            which = "anchor" if col == "anchor" else "other"
            batch[f"{col}_task_ids"] = torch.tensor([r[which] for r in routes], dtype=torch.long)
        return batch
