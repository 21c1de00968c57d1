"""WildChat-50m: many open-weight chat models answering the WildChat-1M conversations.

Data flows one way::

    source -> requests -> engines -> records -> runstore -> builders -> consumers

An answer's way from the engine to the repository's parquet file, for a run of DGM ``C``
(``wildchat50m generate --out runs``) built into ``repo`` (``wildchat50m build runs --out repo``):

1. ``source.py`` reads and validates WildChat rows; ``Generator.stage`` (``generate.py``)
   writes each shard's conversations to ``runs/C/inputs/shard-<i>-of-<n>.parquet``.
2. ``Generator.turn_request`` makes one :class:`~wildchat50m.engines.base.ChatRequest` per user
   turn (``requests.py`` builds and fits the prompt); an engine of ``engines/`` (built from an
   :class:`~wildchat50m.engines.EngineSpec`) answers it with a ``ChatResult``.
3. ``generate.py``'s stream journals the answer at once, as a ``records.TurnOutcome``, to
   ``runs/C/journal/shard-<i>.jsonl`` (``runstore.Journal``): a kill loses only what is in flight.
4. At a shard's last answer, ``Generator.commit_shard`` builds its rows (``records.answered_rows``, in Arrow)
   and ``RunStore.commit`` writes them atomically: **first parquet hop**,
   ``runs/C/data/shard-<i>-of-<n>.parquet`` (``schema.OUTPUT_SCHEMA``, the run's own shard
   numbering), with its checksum and counts in ``runs/C/shards/shard-<i>.json``.
5. ``build_repository`` (``builders/repository.py``) merges a run's shards sorted by
   ``conversation_hash`` into the **second parquet hop**,
   ``repo/data/C/train-<i>-of-<n>.parquet`` (names from ``layout.py``, sized for the Hub),
   beside ``repo/data/C/manifest.json`` and the card ``repo/README.md`` (``cards/*.j2``).
6. Consumers (``datasets.load_dataset``, ``mixes/``, ``analyses/``, the Space, the Axolotl and
   lm-eval plugins) find the files through ``layout.Repository``.

A judgment run (``judging/``) takes the same path from step 2, with a judge's requests and
``schema.JUDGMENT_SCHEMA`` rows, into ``repo/data/judgments--<factor>--<judge>--<target>/``.

The modules of ``src/wildchat50m/``, in the order of the flow:

* ``source.py`` reading, validation, filters, sharding; ``reasons.py`` why a row was left out.
* ``registry.py`` (and ``data/dgms.yaml``) the one list of DGMs; ``tiny.py`` the test models.
* ``requests.py`` prompts per user turn, fitted to the token budget; ``HistoryMode``.
* ``engines/`` the engine interface (``base.py``: results, ``ErrorKind``) and three engines.
* ``records.py`` an answered row and its flags; ``schema.py`` every Arrow schema.
* ``jobs.py`` the sharded job generation and judging share (leases, transient failures);
  ``generate.py`` the generation job; ``judging/`` the judgment job; ``executors.py`` where
  shards run (here, ``--shard I/N``, Ray); ``leases.py`` which worker holds a shard.
* ``runstore.py`` a run's directory: inputs, journal, atomic shards, markers, manifest;
  ``audit.py`` what a run proves about itself; ``summaries.py`` the printed summaries.
* ``workflows.py`` chains of stages as plain functions (the commands and notebooks call them).
* ``layout.py`` a built repository's file names, for its writer and every reader.
* ``mixes/`` SFT mixes; ``analyses/`` and ``metrics/`` the paper's analyses; ``heldout.py``
  held-out prompts.
* ``cli/`` the thin commands; ``errors.py`` the one error base; ``resources.py`` shipped files.

Shipped in the same wheel from the checkout's root: ``builders/`` (``wildchat50m.builders``:
build, import, push, pairs, the search index), ``spaces/`` (the side-by-side viewer) and
``hub_plugins/`` (Axolotl and lm-eval).
"""

__version__ = "0.1.0"
