"""The master key, and encryption of secrets at rest under it.

The master key comes from ``DEVUC_SECRET_KEY`` (any string; a Fernet key is derived from it), or
from ``<data-dir>/master.key``, generated on first use with owner-only permissions. Several nodes
sharing one database must share the same master key (set ``DEVUC_SECRET_KEY`` on each).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE_NAME = "master.key"


class VaultError(Exception):
    pass


def _derive(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


def load_master_key(secret_key: str | None, data_dir: Path) -> bytes:
    if secret_key:
        return _derive(secret_key)
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL: if another process created it meanwhile, use theirs.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key


class Vault:
    def __init__(self, master_key: bytes) -> None:
        self._fernet = Fernet(master_key)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise VaultError(
                "a stored secret cannot be decrypted: the master key differs from the one that "
                "sealed it (check DEVUC_SECRET_KEY / master.key)"
            ) from exc
