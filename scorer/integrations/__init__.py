"""Adapters that feed cooc's data-side risk into other uncertainty toolkits."""
