"""Site file: loading, parse model, validation into the frozen Site object."""
