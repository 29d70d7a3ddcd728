"""Fernet tokens.

A token is a Fernet message (AES-128-CBC + HMAC-SHA256) over a small JSON payload: who, which
account, which scope, when issued, when it expires, and an audit id used for revocation. Any node
holding the token keys validates it without a database read; revocation is an indexed lookup.

The token keys live in the database, each sealed under the master key. The newest key signs; all
keys still in the ring verify, so after ``devuc keys rotate`` tokens signed with the previous key
stay valid until they expire. A key is dropped once every token it could have signed has expired.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store import tables as t
from ..store.db import Store, now_us
from ..store.vault import Vault

# Tokens are opaque to clients, but a recognisable prefix helps people tell them apart.
TOKEN_PREFIX = "MII"
# How long a node trusts its in-memory copy of the key ring before re-reading it.
KEYRING_REFRESH_SECONDS = 60.0
KEYRING_RELOAD_MIN_SECONDS = 1.0


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    account_id: str
    project_id: str | None  # None: domain scope
    methods: tuple[str, ...]
    issued_us: int
    expires_us: int
    audit_id: str

    def encode(self) -> bytes:
        return json.dumps(
            {
                "u": self.user_id,
                "d": self.account_id,
                "p": self.project_id,
                "m": list(self.methods),
                "i": self.issued_us,
                "e": self.expires_us,
                "a": self.audit_id,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> TokenPayload:
        data = json.loads(raw)
        return cls(
            user_id=data["u"],
            account_id=data["d"],
            project_id=data["p"],
            methods=tuple(data["m"]),
            issued_us=int(data["i"]),
            expires_us=int(data["e"]),
            audit_id=data["a"],
        )


def new_payload(
    user_id: str, account_id: str, project_id: str | None, ttl_seconds: int, methods=("password",)
) -> TokenPayload:
    issued = now_us()
    return TokenPayload(
        user_id=user_id,
        account_id=account_id,
        project_id=project_id,
        methods=tuple(methods),
        issued_us=issued,
        expires_us=issued + ttl_seconds * 1_000_000,
        audit_id=secrets.token_hex(16),
    )


class TokenKeyring:
    def __init__(self, store: Store, vault: Vault, ttl_seconds: int) -> None:
        self._store = store
        self._vault = vault
        self._ttl_us = ttl_seconds * 1_000_000
        self._fernet: MultiFernet | None = None
        self._loaded_at = 0.0

    async def _load(self) -> MultiFernet:
        async with self._store.read() as conn:
            rows = (
                await conn.execute(select(t.token_keys.c.key_enc).order_by(t.token_keys.c.id.desc()))
            ).all()
        if not rows:
            async with self._store.write() as conn:
                await self._ensure_key(conn)
            return await self._load()
        self._fernet = MultiFernet([Fernet(self._vault.open(r.key_enc)) for r in rows])
        self._loaded_at = time.monotonic()
        return self._fernet

    async def _ensure_key(self, conn: AsyncConnection) -> None:
        if (await conn.execute(select(t.token_keys.c.id).limit(1))).first() is None:
            await conn.execute(
                insert(t.token_keys).values(
                    key_enc=self._vault.seal(Fernet.generate_key().decode()), created_us=now_us()
                )
            )

    async def fernet(self) -> MultiFernet:
        if self._fernet is None or time.monotonic() - self._loaded_at > KEYRING_REFRESH_SECONDS:
            return await self._load()
        return self._fernet

    async def issue(self, payload: TokenPayload) -> str:
        fernet = await self.fernet()
        return TOKEN_PREFIX + fernet.encrypt(payload.encode()).decode()

    async def open(self, token: str) -> TokenPayload | None:
        """The payload of a token this service issued, or None if it is not one of ours."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 4096:
            return None
        body = token[len(TOKEN_PREFIX) :].encode()
        for attempt in range(2):
            if attempt == 1:
                # Maybe another node rotated the keys: re-read them, at most once a second.
                if time.monotonic() - self._loaded_at < KEYRING_RELOAD_MIN_SECONDS:
                    return None
                fernet = await self._load()
            else:
                fernet = await self.fernet()
            try:
                return TokenPayload.decode(fernet.decrypt(body))
            except InvalidToken:
                continue
            except (ValueError, KeyError, TypeError):
                return None
        return None

    async def rotate(self) -> int:
        """Add a new signing key and drop keys no valid token can depend on. Returns key count."""
        now = now_us()
        async with self._store.write() as conn:
            await self._ensure_key(conn)
            keys = (
                await conn.execute(
                    select(t.token_keys.c.id, t.token_keys.c.created_us).order_by(
                        t.token_keys.c.id
                    )
                )
            ).all()
            await conn.execute(
                insert(t.token_keys).values(
                    key_enc=self._vault.seal(Fernet.generate_key().decode()), created_us=now
                )
            )
            # Key k signed tokens until key k+1 appeared; they all expire ttl after that.
            expired = [
                older.id
                for older, newer in zip(keys, keys[1:])
                if newer.created_us + self._ttl_us < now
            ]
            if expired:
                await conn.execute(delete(t.token_keys).where(t.token_keys.c.id.in_(expired)))
            count = len(keys) + 1 - len(expired)
        self._fernet = None
        return count
