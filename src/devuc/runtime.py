"""What a running devuc holds: settings, the store, the vault and the token key ring.

Shared by the HTTP app and the CLI, so both apply the same rules to the same data.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property

from .config import Settings
from .iam.tokens import TokenKeyring
from .store.cache import GenerationCache
from .store.db import Store
from .store.deferred import DeferredUpdates
from .store.vault import Vault, load_master_key


@dataclass
class Runtime:
    settings: Settings
    store: Store
    vault: Vault
    keyring: TokenKeyring
    cache: GenerationCache
    deferred: DeferredUpdates

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        store = Store(settings.effective_database_url)
        vault = Vault(load_master_key(settings.secret_key, settings.data_dir))
        keyring = TokenKeyring(store, vault, settings.token_ttl_seconds)
        return cls(settings, store, vault, keyring, GenerationCache(), DeferredUpdates(store))

    async def fresh_generation(self) -> int:
        """Read the store generation and bring the cache up to it; returns it for cache puts.
        Within one request it is read once, however many caches the request consults, by a read
        sent after the request arrived."""
        memo = _request_generation.get()
        if memo is None:
            return self.cache.sync(await self.store.generation())
        if memo.generation is None:
            memo.generation = self.cache.sync(await self.store.generation(memo.received_ns))
        return memo.generation

    @cached_property
    def region_ids(self) -> list[str]:
        return [r.id for r in self.settings.regions]

    async def close(self) -> None:
        await self.deferred.close()
        await self.store.close()


async def with_runtime(settings: Settings, work):
    """``await work(runtime)`` with a runtime opened for it and closed after (the CLI's way in)."""
    rt = Runtime.open(settings)
    try:
        return await work(rt)
    finally:
        await rt.close()


# Where `devuc serve`'s HTTP protocol notes, in each request's scope["state"], when the
# request's first bytes were read (time.monotonic_ns()).
RECEIVED_KEY = "devuc.received_ns"


class _RequestGeneration:
    __slots__ = ("received_ns", "generation")

    def __init__(self, received_ns: int | None) -> None:
        self.received_ns = received_ns
        self.generation: int | None = None


# Set by the HTTP layer at the start of each request (each runs in a task of its own).
_request_generation: ContextVar[_RequestGeneration | None] = ContextVar("request_generation", default=None)


def begin_request(received_ns: int | None = None) -> None:
    """Start a request that arrived at ``received_ns`` (None: unknown, taken as now): its first
    cache consultation reads the store generation."""
    _request_generation.set(_RequestGeneration(received_ns))
