"""Training: schedules, balanced batches, the DANN loss and a minimal loop."""
