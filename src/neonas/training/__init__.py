"""Training: retraining an architecture from scratch, the hand-designed baseline, and evaluation on held-out infants."""
