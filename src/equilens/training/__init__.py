"""Training: config, run folder, loop, checkpoints, evaluation."""

from equilens.training.checkpoint import load_trained
from equilens.training.config import Config, load_config
from equilens.training.experiment import Experiment, load_splits, resolve_device
from equilens.training.predict import energy_errors, predict
from equilens.training.trainer import Interrupted, TrainResult, train

__all__ = ["Config", "Experiment", "Interrupted", "TrainResult", "energy_errors", "load_config",
           "load_splits", "load_trained", "predict", "resolve_device", "train"]
