"""neonas: neural architecture search for neonatal EEG sleep staging."""

__version__ = "0.1.0"

#: Neonatal sleep stages, in the integer order used in every HDF5 file and model output.
NEONATAL_STAGES = ("AS", "QS", "W", "IS")

#: Stages top to bottom on a hypnogram (wake on top, like W / REM / N1-N3 on an adult one) and one colour each:
#: every hypnogram neonas draws (the report's, `neonas predict --plot`) uses both, so they read alike.
HYPNOGRAM_ORDER = ("W", "AS", "IS", "QS")
STAGE_COLORS = {"W": "#e6a23c", "AS": "#d9534f", "IS": "#9e9e9e", "QS": "#3f6fb5"}


def stage(raw, model, **kwargs):
    """Stage a recording with a trained model: `neonas.stage(raw, "model.pt") -> Hypnogram`.

    `raw`: an mne.io.BaseRaw (or a recording's path); `model`: a path to model.pt or a loaded model. Keyword
    arguments: overrides, infant_id, device. The code of `neonas predict` (neonas.training.predict.stage;
    imported here on first use, so `import neonas` stays light and below the layers). See docs/predict.md.
    """
    import importlib

    return importlib.import_module("neonas.training.predict").stage(raw, model, **kwargs)
