"""``python -m wildchat50m`` runs the command line."""

from wildchat50m.cli import main

# Guarded: the replicas of `generate --replicas` are spawned processes that import this module again.
if __name__ == "__main__":
    main()
