"""The private-access decision, a pure function, tested exhaustively over small worlds
(spec/codearts-uc.md §6, contracts 2, 3 and 7)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from devuc.codearts.privateaccess.decision import ALLOW, DENY, RegionPolicy, VpcData, decide

ACCOUNT = "a" * 32
REGIONS = ("r1", "r2")
ENDPOINTS = ("e1", "e2", "e3")


def test_no_records_allows_everything():
    for region, endpoint in itertools.product((None, *REGIONS), (None, *ENDPOINTS)):
        assert decide(ACCOUNT, {}, region, endpoint) == VpcData(ACCOUNT, endpoint, ALLOW, False)


def test_records_in_force():
    policies = {"r1": RegionPolicy(frozenset({"e1", "e2"}))}
    assert decide(ACCOUNT, policies, "r1", "e1") == VpcData(ACCOUNT, "e1", ALLOW, True)
    assert decide(ACCOUNT, policies, "r1", "e3") == VpcData(ACCOUNT, "e3", DENY, True)
    assert decide(ACCOUNT, policies, "r1", None) == VpcData(ACCOUNT, None, DENY, True)
    # another region of the same tenant is not restricted
    assert decide(ACCOUNT, policies, "r2", None) == VpcData(ACCOUNT, None, ALLOW, False)
    # a global request is judged against every region's list
    assert decide(ACCOUNT, policies, None, "e2") == VpcData(ACCOUNT, "e2", ALLOW, True)
    assert decide(ACCOUNT, policies, None, None) == VpcData(ACCOUNT, None, DENY, True)


def test_switch_off_keeps_list_but_allows():
    off = {"r1": RegionPolicy(frozenset({"e1"}), switched_on=False)}
    assert decide(ACCOUNT, off, "r1", None) == VpcData(ACCOUNT, None, ALLOW, False)
    assert decide(ACCOUNT, off, None, "e3") == VpcData(ACCOUNT, "e3", ALLOW, False)
    # switched on with an empty list: nothing in force
    empty = {"r1": RegionPolicy(frozenset(), switched_on=True)}
    assert decide(ACCOUNT, empty, "r1", None).config is False


def test_offered_regions():
    policies = {"r1": RegionPolicy(frozenset({"e1"})), "r2": RegionPolicy(frozenset({"e2"}))}
    assert decide(ACCOUNT, policies, "r1", None, offered_regions=["r2"]) == VpcData(ACCOUNT, None, ALLOW, False)
    assert decide(ACCOUNT, policies, "r2", "e1", offered_regions=["r2"]).result == DENY
    # a global request sees only the offered regions' lists
    assert decide(ACCOUNT, policies, None, "e1", offered_regions=["r2"]).result == DENY
    assert decide(ACCOUNT, policies, None, "e2", offered_regions=["r2"]).result == ALLOW
    assert decide(ACCOUNT, policies, None, "e1", offered_regions=[]).config is False


def test_every_small_world():
    """Every tenant state over two regions (each: no list / list on / list switched off, over
    subsets of three endpoints), every request region and endpoint: the decision matches the
    contract stated directly."""
    subsets = [frozenset(c) for n in range(len(ENDPOINTS) + 1) for c in itertools.combinations(ENDPOINTS, n)]
    region_states = [None] + [RegionPolicy(s, on) for s in subsets for on in (True, False)]
    checked = 0
    for states in itertools.product(region_states, repeat=len(REGIONS)):
        policies = {r: p for r, p in zip(REGIONS, states) if p is not None}
        for region, endpoint in itertools.product((None, *REGIONS), (None, *ENDPOINTS)):
            got = decide(ACCOUNT, policies, region, endpoint)
            relevant = [policies[r] for r in REGIONS if r in policies and region in (None, r)]
            lists_in_force = [p.vpcep_ids for p in relevant if p.switched_on and p.vpcep_ids]
            assert got.enterprise_id == ACCOUNT and got.vpcep_id == endpoint
            assert got.config == bool(lists_in_force)
            expected = ALLOW if not lists_in_force or any(endpoint in ids for ids in lists_in_force) else DENY
            assert got.result == expected, (policies, region, endpoint)
            checked += 1
    assert checked == len(region_states) ** 2 * 3 * 4


ids = st.frozensets(st.sampled_from(ENDPOINTS))
policy = st.builds(RegionPolicy, ids, st.booleans())
worlds = st.dictionaries(st.sampled_from(REGIONS), policy)
regions = st.sampled_from((None, *REGIONS))
endpoints = st.sampled_from((None, *ENDPOINTS))


@given(worlds, regions, st.sampled_from(ENDPOINTS), st.sampled_from(REGIONS))
def test_listing_the_endpoint_never_denies_it(policies, region, endpoint, where):
    """Listing the request's own endpoint in an applicable region that is switched on admits the
    request; anywhere else it changes nothing."""
    current = policies.get(where, RegionPolicy())
    grown = {**policies, where: RegionPolicy(current.vpcep_ids | {endpoint}, current.switched_on)}
    before, after = decide(ACCOUNT, policies, region, endpoint), decide(ACCOUNT, grown, region, endpoint)
    if region in (None, where) and current.switched_on:
        assert after == VpcData(ACCOUNT, endpoint, ALLOW, True)
    else:  # a list not in force, or another region's, changes nothing for this request
        assert after == before


@given(worlds, regions, endpoints)
def test_switching_everything_off_allows(policies, region, endpoint):
    off = {r: RegionPolicy(p.vpcep_ids, False) for r, p in policies.items()}
    assert decide(ACCOUNT, off, region, endpoint) == VpcData(ACCOUNT, endpoint, ALLOW, False)


def test_record_shape():
    assert decide(ACCOUNT, {}, None, "e1").as_dict() == {
        "enterprise_id": ACCOUNT, "vpcep_id": "e1", "result": "Allow", "config": False}
