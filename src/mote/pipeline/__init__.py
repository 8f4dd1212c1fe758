"""Experiment pipelines: the papers' comparisons from one config (``mote pipeline CONFIG.yaml``)."""

from mote.pipeline.config import PipelineConfig, load_pipeline_config
from mote.pipeline.run import run_pipeline

__all__ = ["PipelineConfig", "load_pipeline_config", "run_pipeline"]
