"""Engines for tests of a job's failure handling, where the answers themselves do not matter."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from wildchat50m.engines.base import FINISH_ERROR, ChatRequest, ChatResult, Pause, http_error_kind


class DownServer:
    """An engine whose server is down: it takes one request at a time and fails it with ``http_503``
    (a transient failure), noting every request it was sent."""

    name = "down"
    tokenizer = None

    def __init__(self) -> None:
        self.sent: list[str] = []

    def generate(self, requests: Iterable[ChatRequest | Pause]) -> Iterator[ChatResult]:
        for request in requests:
            if isinstance(request, Pause):
                continue
            self.sent.append(request.key)
            yield ChatResult(request.key, None, FINISH_ERROR, error=http_error_kind(503))

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name}

    def close(self) -> None:
        return None
