"""The Axolotl plugin: WildChat-50m configs and mixes as Axolotl datasets.

``plugins: [wildchat50m.hub_plugins.axolotl.WildChat50mPlugin]`` in an Axolotl
YAML; the example YAMLs are in ``examples/`` beside this file.
"""

from wildchat50m.hub_plugins.axolotl.plugin import WildChat50mPlugin

__all__ = ["WildChat50mPlugin"]
