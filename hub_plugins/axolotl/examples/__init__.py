"""Example Axolotl YAMLs that use the WildChat-50m plugin."""
