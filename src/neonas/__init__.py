"""neonas: neural architecture search for neonatal EEG sleep staging."""

__version__ = "0.1.0"

#: Neonatal sleep stages, in the integer order used in every HDF5 file and model output.
NEONATAL_STAGES = ("AS", "QS", "W", "IS")

#: Stages top to bottom on a hypnogram (wake on top, like W / REM / N1-N3 on an adult one) and one colour each:
#: every hypnogram neonas draws (the report's, `neonas predict --plot`) uses both, so they read alike.
HYPNOGRAM_ORDER = ("W", "AS", "IS", "QS")
STAGE_COLORS = {"W": "#e6a23c", "AS": "#d9534f", "IS": "#9e9e9e", "QS": "#3f6fb5"}
