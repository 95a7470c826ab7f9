"""Signal-quality evaluation of cooc against HaluEval (see __main__.py)."""
