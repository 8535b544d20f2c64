"""Every page people see: renderers, one template tree, static scripts and styles, one catalogue per language."""
