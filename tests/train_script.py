"""Subprocess entry for the resume test: trains the tiny model on synthetic data."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mote.train.run import train
from train_helpers import config, synthetic_datasets

base, out, steps = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
train(config(base, out, max_steps=steps, save_steps=5, save_total_limit=3), synthetic_datasets(n=96),
      resume="--resume" in sys.argv)
