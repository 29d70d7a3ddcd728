"""Password hashing must not leave its argon2 blocks (7 MiB each) in the process (issue 7:
resident size per worker). Measured in a fresh interpreter: the growth happens at the first hash of each
malloc arena, so a process that already hashed would hide it."""

import subprocess
import sys

import pytest

PROGRAM = """
import asyncio
from devuc.iam import passwords

def rss_mib():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) / 1024 for l in status if l.startswith("VmRSS:"))

async def main():
    stored = passwords._DUMMY_HASH
    before = rss_mib()
    for _ in range(6):
        await passwords.verify_password(stored, "not the password")
    print(rss_mib() - before)

asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; about glibc's malloc")
def test_hashing_returns_its_memory():
    grown = float(subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                                 check=True, timeout=60).stdout)
    assert grown < 3, f"resident size grew by {grown:.1f} MiB over 6 argon2 verifications"
