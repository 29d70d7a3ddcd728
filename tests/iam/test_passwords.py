"""Password hashing (devuc.iam.passwords): hashes stored by earlier devuc versions, which hashed
with the argon2-cffi package, keep verifying after the move to libsodium; new hashes carry
today's parameters; nothing a caller can send makes verification raise."""

import asyncio

import pytest

from devuc.iam import passwords

PASSWORD = "Older-devuc-1"
# Made by argon2-cffi 25.1 with the parameters devuc used over time: its defaults (64 MiB, 3
# passes, 4 lanes), then OWASP's 19 MiB/2, then 7 MiB/5.
EARLIER = {
    "argon2-cffi defaults": "$argon2id$v=19$m=65536,t=3,p=4$rMNzP04IHqVduFKppV8zmQ$"
                            "MxNXWAfaJgUxrsKAnC9JQx5aD75JCdUboWgPQoilcIQ",
    "19 MiB, 2 passes": "$argon2id$v=19$m=19456,t=2,p=1$198BFjyI14HpNGT0wxi+HQ$"
                        "sXXQUQgPp9qDEdF/fROhp0o8o6e2xEGNKSFlcAObmgU",
    "7 MiB, 5 passes": "$argon2id$v=19$m=7168,t=5,p=1$65EUmLK7T60K4jOU2lQyEA$"
                       "ltlJAqVsl6KRJlerdnhMbp8NnW83Shtbd51e1cAHjOw",
}


@pytest.mark.parametrize("made_with", EARLIER)
async def test_hashes_from_earlier_versions_verify(made_with):
    stored = EARLIER[made_with]
    assert await passwords.verify_password(stored, PASSWORD)
    assert not await passwords.verify_password(stored, PASSWORD + "x")
    assert not await passwords.verify_password(stored, PASSWORD.lower())
    assert passwords.needs_rehash(stored) == (made_with != "7 MiB, 5 passes")


async def test_a_new_hash_carries_todays_parameters_and_a_fresh_salt():
    first, second = [await passwords.hash_password(PASSWORD) for _ in range(2)]
    for stored in (first, second):
        assert stored.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
        assert not passwords.needs_rehash(stored)
        assert await passwords.verify_password(stored, PASSWORD)
    assert first != second
    assert await passwords.rehashed(first, PASSWORD) is None
    replaced = await passwords.rehashed(EARLIER["19 MiB, 2 passes"], PASSWORD)
    assert replaced.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    assert await passwords.verify_password(replaced, PASSWORD)


@pytest.mark.parametrize("stored", [
    None, "", "garbage", "$argon2id$", "$argon2id$v=19$m=7168,t=5,p=1$zz$yy",
    "$argon2id$v=19$m=7168,t=5,p=1$65EUmLK7T60K4jOU2lQyEA$",  # no hash part
    "$argon2d$v=19$m=7168,t=5,p=1$65EUmLK7T60K4jOU2lQyEA$ltlJAqVsl6KRJlerdnhMbp8NnW83Shtbd51e1cAHjOw",
    "$argon2id$v=19$m=7168,t=5,p=1$é$ü", "\x00",
])
async def test_what_is_not_a_hash_never_verifies(stored):
    assert not await passwords.verify_password(stored, PASSWORD)
    assert not await passwords.verify_password(stored, "")


@pytest.mark.parametrize("sent", ["", "\x00", "pässwörd", "\ud800", "x" * 10_000])
async def test_any_password_a_caller_sends_is_answered(sent):
    assert not await passwords.verify_password(EARLIER["7 MiB, 5 passes"], sent)


async def test_hashing_leaves_the_event_loop_free():
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        assert await passwords.verify_password(EARLIER["7 MiB, 5 passes"], PASSWORD)
    finally:
        ticker.cancel()
    assert ticks > 0, "the loop ran nothing while a password was verified"


def _composition_ok(password: str) -> bool:
    """The rules check_password applies before its list of common passwords."""
    return 8 <= len(password) <= passwords.MAX_PASSWORD_LENGTH and passwords._classes(password) >= 2


@pytest.mark.parametrize("common", sorted(passwords.WEAK_PASSWORDS))
def test_common_passwords_pass_the_composition_rules_and_are_refused_as_weak(common):
    # Only a password the other rules let through needs the list: every entry must be one.
    assert _composition_ok(common)
    for shown in (common, common.upper(), common.capitalize()):
        with pytest.raises(passwords.ApiError) as refused:
            passwords.check_password(shown, user_name="someone", min_length=8, weak_code="1118")
        assert refused.value.code == "1118" and "password" in refused.value.message
        with pytest.raises(passwords.ApiError) as refused:
            passwords.check_password(shown, user_name="someone", min_length=8, code="IAM.0073")
        assert refused.value.code == "IAM.0073"


def test_a_password_near_a_common_one_is_accepted():
    for fine in ("Passw0rd-Kestrel", "Admin@123x9", "1qaz@WSX-river"):
        assert passwords.check_password(fine, user_name="someone", min_length=8) == fine
