"""The understanding stages: pure functions and scikit-learn transformers, no I/O."""
