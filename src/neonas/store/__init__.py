"""Store: the HDF5 layout of one infant, loading epochs for training, and folds over infants."""
