"""Models equilens did not train: pretrained foundation models behind one interface.

:class:`~equilens.models.external.base.ExternalModel` is the interface; each code has one
file here (``sevennet.py``, ``chgnet.py``) that defines its ``SPEC``, found by
:mod:`~equilens.models.external.registry`. Their libraries are imported only when a
model is loaded.
"""

from equilens.models.external.base import ExternalModel, ExternalSpec, Layer
from equilens.models.external.evaluate import Prediction, evaluate, time_per_frame
from equilens.models.external.inputs import as_batch
from equilens.models.external.registry import (
    CheckpointError,
    MissingExtraError,
    codes,
    is_external,
    load_external,
    load_random_external,
    resolve_external,
    shipped,
)

__all__ = ["CheckpointError", "ExternalModel", "ExternalSpec", "Layer", "MissingExtraError",
           "Prediction", "as_batch", "codes", "evaluate", "is_external", "load_external",
           "load_random_external", "resolve_external", "shipped", "time_per_frame"]
