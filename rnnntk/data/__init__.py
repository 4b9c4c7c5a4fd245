"""Data: the sequences a network reads and the targets it learns.

`sources` (the `Source` and `Target` base classes), `dataset` (the synthetic sources and targets,
``make_dataset`` and the registries ``SOURCES`` / ``TARGETS``), `realdata` (real series read from
data files) and `lob` (a synthetic limit order book).
"""

from .dataset import (
    AR1,
    NPZ_MAX_ABS,
    NPZ_STD_RANGE,
    SOURCES,
    TARGETS,
    Delay,
    ElmanTeacher,
    FiniteState,
    Logistic,
    Npz,
    SinLag,
    Teacher,
    apply_target,
    build_source,
    build_target,
    make_dataset,
    sample_path,
    target_memory,
    window_targets,
)
from .lob import CANCEL_TERMS, FEATURES, LOB, Book, Noise, draw_noise, poisson_inverse, sample_lob, simulate_book
from .realdata import REAL_SERIES, TRANSFORMS, Real, Split, read_series, standardise_split
from .sources import Source, Target, unit_projection

__all__ = [
    "apply_target",
    "AR1",
    "Book",
    "build_source",
    "build_target",
    "CANCEL_TERMS",
    "Delay",
    "draw_noise",
    "ElmanTeacher",
    "FEATURES",
    "FiniteState",
    "LOB",
    "Logistic",
    "make_dataset",
    "Noise",
    "Npz",
    "NPZ_MAX_ABS",
    "NPZ_STD_RANGE",
    "poisson_inverse",
    "read_series",
    "Real",
    "REAL_SERIES",
    "sample_lob",
    "sample_path",
    "simulate_book",
    "SinLag",
    "Source",
    "SOURCES",
    "Split",
    "standardise_split",
    "Target",
    "target_memory",
    "TARGETS",
    "Teacher",
    "TRANSFORMS",
    "unit_projection",
    "window_targets",
]
