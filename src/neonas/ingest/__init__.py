"""Ingest: raw EEG recordings and sleep labels in, validated signals out (EDF checks, labels, presets, preprocessing, cohort sheets, the synthetic cohort)."""
