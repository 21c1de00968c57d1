"""Data files shipped with the package: the DGM registry and the embedded sample."""
