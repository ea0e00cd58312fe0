"""Small reference models for smoke tests, each with a factory and an input factory.

Import by name, e.g. ``--factory examples.models.mlp:build --input-factory
examples.models.mlp:example_input``, from the repository root (the CLI puts the current
directory at the end of sys.path) or with the repository root on PYTHONPATH.
`generate_weights.py` writes their example weights deterministically.
"""

MODELS = ("mlp", "cnn", "transformer")
