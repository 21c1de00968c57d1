"""Integrations that live in other tools: the Axolotl plugin and the lm-eval task pack."""
