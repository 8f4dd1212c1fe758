"""Synthetic task-tagged datasets and a config builder for training tests (tiny models, seconds)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from datasets import Dataset

from mote.train.config import TrainConfig

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
]


def _sent(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))


def synthetic_datasets(n: int = 48, seed: int = 0) -> dict[str, Dataset]:
    rng = random.Random(seed)
    s = lambda: _sent(rng)  # noqa: E731
    return {
        "retrieval": Dataset.from_dict(
            {
                "anchor": [s() for _ in range(n)],
                "positive": [s() for _ in range(n)],
                "negatives": [[s()] for _ in range(n)],
                "anchor_task": ["query"] * n,
                "positive_task": ["document"] * n,
            }
        ),
        "sts": Dataset.from_dict(
            {
                "anchor": [s() for _ in range(n)],
                "positive": [s() for _ in range(n)],
                "score": [rng.random() for _ in range(n)],
                "task": ["similarity"] * n,
            }
        ),
        "labels": Dataset.from_dict(
            {
                "anchor": [s() for _ in range(n)],
                "positive": [s() for _ in range(n)],
                "label": [str(i % 3) for i in range(n)],
                "task": ["classification"] * n,
            }
        ),
    }


def config(base: Path, out: Path, **train: Any) -> TrainConfig:
    mode = train.pop("mode", "mote")
    tasks = train.pop("tasks", {})
    sampling = train.pop("sampling", "proportional")
    instructions = train.pop("instructions", "mote")  # the prefixes these tests check (the default follows the base)
    settings = {
        "output_dir": str(out),
        "batch_size": 8,
        "max_steps": 6,
        "save_steps": 3,
        "logging_steps": 1,
        "learning_rate": 1e-3,
        "precision": "fp32",  # exact numbers on every CPU kind (auto would pick bf16 on bf16-native CPUs)
        "device": "cpu",
        **train,
    }
    return TrainConfig.model_validate(
        {
            "model": {"base": str(base), "mode": mode, "layers": "all", "max_seq_length": 32,
                      "instructions": instructions},
            "data": {"recipe": "unused.yaml", "sampling": sampling},
            "train": settings,
            "tasks": tasks,
        }
    )
