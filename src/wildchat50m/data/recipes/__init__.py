"""Built-in mix recipes (YAML), listed by `wildchat50m mix list`."""
