"""A per-process cache of values derived from the store, kept exactly as long as the store
generation (see tables.store_generation) is unchanged."""

from __future__ import annotations

from typing import Any, Hashable


class GenerationCache:
    def __init__(self, max_entries: int = 200_000) -> None:
        self._generation: int | None = None
        self._entries: dict[Hashable, Any] = {}
        self._max_entries = max_entries

    def sync(self, generation: int) -> int:
        """Adopt the generation just read from the store; anything older is dropped."""
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        return generation

    def get(self, key: Hashable) -> Any:
        return self._entries.get(key)

    def put(self, key: Hashable, value: Any, generation: int) -> None:
        """Remember ``value`` if it was derived under the current generation (a request that
        read an older generation may have loaded data a newer write has already changed)."""
        if generation != self._generation:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = value
