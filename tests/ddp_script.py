"""Run under torchrun (2 CPU processes, gloo): trains the tiny MoTE model, then each rank writes a digest
of its weights so the test can check both ranks hold identical weights."""

import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mote.train.run import _fit, build_model, task_set
from train_helpers import config, synthetic_datasets

base, out, steps = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
cfg = config(base, out, max_steps=steps, save_steps=1000, sampling="round-robin")
tasks = task_set(cfg)
model = build_model(cfg, tasks)
summary = _fit(cfg, model, synthetic_datasets(n=64), tasks, out, resume=False)
digest = hashlib.sha256()
for name, tensor in sorted(model.state_dict().items()):
    digest.update(name.encode())
    digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
rank = int(os.environ.get("RANK", "0"))
(out / f"rank{rank}.json").write_text(json.dumps({"digest": digest.hexdigest(), "steps": summary["steps"],
                                                  "world": int(os.environ.get("WORLD_SIZE", "1"))}))
