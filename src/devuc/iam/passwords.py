"""Password hashing (argon2id, in a worker thread so the event loop never blocks) and the
password rules of spec/iam.md §4.2."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import secrets
import string
from concurrent.futures import ThreadPoolExecutor

import nacl.pwhash.argon2id as _argon2id
from nacl.exceptions import CryptoError

from ..errors import ApiError

MAX_PASSWORD_LENGTH = 32
SPECIALS = "~`!@#$%^&*()-_=+\\|[{}];:'\",<.>/? "

def _return_large_blocks_to_the_os() -> None:
    """Each argon2id hash allocates and frees a block of its memory cost (megabytes). glibc's malloc raises its mmap
    threshold to the largest block freed, so after the first hash such blocks would come from the
    heap and stay in the process: each worker's resident size would grow by that block per malloc
    arena that ever hashed. A fixed threshold (set before the first hash) keeps blocks over 1 MiB
    mmap-ed, and unmapped as soon as they are freed. Elsewhere than glibc: nothing to do."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(_M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):
        pass


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_return_large_blocks_to_the_os()

# argon2id with OWASP's 7 MiB, 5 passes, 1 lane: one of the settings its password storage guidance
# lists as equally strong (46 MiB/1, 19 MiB/2, 12 MiB/3, 9 MiB/4, 7 MiB/5). Of those it costs the
# least CPU here (README). Computed by libsodium (PyNaCl), whose AVX2 code verifies in about
# two thirds of the reference implementation's time; its hashes are the standard encoded form
# ("$argon2id$v=19$m=7168,t=5,p=1$salt$hash"), so hashes from any argon2 library verify, and
# a successful login re-hashes those made with other parameters (rehashed).
ALGORITHM = "argon2id"
MEMORY_KIB = 7 * 1024
TIME_COST = 5
PARALLELISM = 1  # libsodium hashes with one lane (and verifies any number)
_CURRENT = f"${ALGORITHM}$v=19$m={MEMORY_KIB},t={TIME_COST},p={PARALLELISM}$"


def _hash(password: str) -> str:
    return _argon2id.str(password.encode(), opslimit=TIME_COST, memlimit=MEMORY_KIB * 1024).decode()


def _verify(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False on a mismatch or a hash that is not one (any argon2i
    or argon2id hash in the standard encoded form is one)."""
    try:
        return _argon2id.verify(password_hash.encode(), password.encode())
    except (CryptoError, UnicodeError):
        return False


# A fixed hash to spend the same time on unknown users as on known ones.
_DUMMY_HASH = _hash(secrets.token_urlsafe(16))


# Hashing runs on a thread of its own: it never blocks the event loop (libsodium releases the GIL),
# and each worker process holds one argon2 buffer at most (about 70 hashes a second per worker).
_HASHING_THREADS = 1
# (Not at a lower CPU priority: a low-priority thread descheduled while it holds the GIL would
# stall the event loop behind it; a full run at nice 5 showed a 124 ms p99.)
_pool = ThreadPoolExecutor(max_workers=_HASHING_THREADS, thread_name_prefix="argon2")


async def _off_loop(function, *args):
    return await asyncio.get_running_loop().run_in_executor(_pool, function, *args)


async def hash_password(password: str) -> str:
    return await _off_loop(_hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def _check() -> bool:
        return _verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)

    return await _off_loop(_check)


def needs_rehash(password_hash: str) -> bool:
    """True when ``password_hash`` was not made with today's algorithm and parameters."""
    return not password_hash.startswith(_CURRENT)


async def rehashed(password_hash: str, password: str) -> str | None:
    """A new hash of ``password`` (just verified against ``password_hash``) when the stored hash
    was made with other parameters than today's; None when it is current."""
    return await hash_password(password) if needs_rehash(password_hash) else None


def _classes(password: str) -> int:
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(c in SPECIALS for c in password),
        )
    )


# Passwords that meet the composition rules and still head every list of leaked passwords (and
# the keyboard walks and "Name@123" shapes they are full of): refused as weak, without regard to
# case. The IAM user APIs answer them with their own code (1118); other callers with ``code``.
WEAK_PASSWORDS = frozenset("""
    password1 password12 password123 password1234 password12345 password@123 password!
    password#1 password@1 password_123 passw0rd passw0rd! p@ssword p@ssw0rd p@ssw0rd1
    p@ssw0rd123 p@$$w0rd pa$$w0rd pa$$word pass@123 pass@1234 pass1234 pass12345
    admin123 admin1234 admin12345 admin@123 admin@1234 admin#123 admin_123 admin123!
    administrator1 administrator@123 root1234 root@123 root@1234 test1234 test@123
    test@1234 test12345 user1234 user@123 guest123 guest@123
    huawei123 huawei@123 huawei12#$ huaweicloud@123 changeme1 changeme123 changeme!
    welcome1 welcome12 welcome123 welcome@123 welcome1! letmein1 letmein123 iloveyou1
    qwerty12 qwerty123 qwerty1234 qwerty@123 qwerty!23 qwertyuiop1 qwer1234 qwer@1234
    1234qwer asdf1234 asdf@1234 zxcv1234 1qaz2wsx 1qaz@wsx 1qaz!qaz !qaz2wsx !qaz@wsx
    zaq12wsx zaq1@wsx 1q2w3e4r 1q2w3e4r5t 1q2w3e4r! q1w2e3r4 q1w2e3r4t5 abc12345
    abc123456 abcd1234 abcd@1234 abc@1234 abc@12345 a1234567 a12345678 a123456789
    aa123456 aa12345678 a1b2c3d4 12345678a 123456789a 123456abc 12345abc 1234abcd
    11111111a 88888888a 66666666a sunshine1 monkey123 dragon123 football1 baseball1
    master123 superman1 trustno1 princess1 starwars1 computer1 internet1 summer2024
    winter2024 spring2024 autumn2024 summer2025 winter2025 summer2026 winter2026
""".split())


def check_password(
    password: object,
    *,
    user_name: str,
    min_length: int,
    email: str = "",
    phone: str = "",
    code: str = "1103",
    weak_code: str | None = None,
    field: str = "password",
) -> str:
    """Return the password if it satisfies the policy, else raise ``code`` naming ``field``
    (``weak_code``, when given, for a password refused as commonly used)."""
    if not isinstance(password, str):
        raise ApiError(code, f"Invalid parameter '{field}': must be a string.")
    if not min_length <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ApiError(
            code,
            f"Invalid parameter '{field}': length must be {min_length}-{MAX_PASSWORD_LENGTH}.",
        )
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in password):
        raise ApiError(code, f"Invalid parameter '{field}': only printable ASCII characters.")
    if _classes(password) < 2:
        raise ApiError(
            code,
            f"Invalid parameter '{field}': needs at least two of upper-case letters, lower-case "
            "letters, digits and special characters.",
        )
    lowered = password.lower()
    if user_name and lowered in (user_name.lower(), user_name.lower()[::-1]):
        raise ApiError(
            code, f"Invalid parameter '{field}': must not be the user name or the name reversed."
        )
    for value, what in ((email, "email address"), (phone, "mobile number")):
        if value and value.lower() in lowered:
            raise ApiError(code, f"Invalid parameter '{field}': must not contain the {what}.")
    if lowered in WEAK_PASSWORDS:
        raise ApiError(
            weak_code or code, f"Invalid parameter '{field}': a commonly used password, easily guessed."
        )
    return password


def generate_password(length: int = 20) -> str:
    """A random password that satisfies every rule above."""
    alphabet = string.ascii_letters + string.digits + "!@#%^*-_=+"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if _classes(candidate) == 4:
            return candidate
