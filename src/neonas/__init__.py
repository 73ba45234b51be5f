"""neonas: neural architecture search for neonatal EEG sleep staging."""

__version__ = "0.1.0"

#: Neonatal sleep stages, in the integer order used in every HDF5 file and model output.
NEONATAL_STAGES = ("AS", "QS", "W", "IS")
