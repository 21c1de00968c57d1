"""Loaded by a `wildchat50m` subprocess whose PYTHONPATH starts with this folder (see helpers/faults.py).

Two thin hooks on the real code, each switched on by an environment variable:

- ``WILDCHAT50M_TEST_LEDGER=FILE``: every journal append also writes ``<pid> <key>`` to FILE
  (one line, O_APPEND), so a test counts how often each request was generated across workers.
- ``WILDCHAT50M_TEST_ENOSPC_AFTER=N`` with ``WILDCHAT50M_TEST_FAULT_DIR=DIR``: the (N+1)-th
  ``os.fsync`` of a file under DIR fails with ENOSPC, and every later one too: a disk that
  fills up, as a small tmpfs does.
"""

import errno
import os

_ledger = os.environ.get("WILDCHAT50M_TEST_LEDGER")
_fault_after = os.environ.get("WILDCHAT50M_TEST_ENOSPC_AFTER")

if _ledger:
    from wildchat50m.runstore import Journal

    _append = Journal.append

    def _logged_append(self, key, outcome, seconds=None):
        _append(self, key, outcome, seconds)
        line = f"{os.getpid()} {key}\n".encode()
        descriptor = os.open(_ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)

    Journal.append = _logged_append

if _fault_after:
    _folder = os.path.realpath(os.environ["WILDCHAT50M_TEST_FAULT_DIR"])
    _fsync = os.fsync
    _count = [0]

    def _failing_fsync(descriptor):
        try:
            path = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:
            path = ""
        if path.startswith(_folder + os.sep):
            _count[0] += 1
            if _count[0] > int(_fault_after):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return _fsync(descriptor)

    os.fsync = _failing_fsync
