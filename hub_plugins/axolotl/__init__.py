"""The Axolotl plugin: WildChat-50m mixes as Axolotl datasets."""
