"""``python -m wildchat50m`` runs the command line."""

from wildchat50m.cli import main

main()
