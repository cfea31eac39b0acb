"""Models, predictions and evaluations (stage 1 / stage 2) land here."""
