"""The private-access decision (spec/codearts-uc.md §6): one pure function, no I/O.

``decide`` answers in the shape of CodeArts Check's decision record, ``VpcData``
(``enterprise_id``, ``vpcep_id``, ``result`` Allow|Deny, ``config``), for a request of a tenant
that came through ``vpcep_id`` (None: through no VPC endpoint) into ``region`` (None: a global
request, e.g. a domain-scoped token).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

ALLOW = "Allow"
DENY = "Deny"


@dataclass(frozen=True)
class RegionPolicy:
    """A tenant's private access in one region: its allow-listed VPC endpoints and the operator's
    switch (on unless switched off; switching off keeps the list)."""

    vpcep_ids: frozenset[str] = frozenset()
    switched_on: bool = True


@dataclass(frozen=True)
class VpcData:
    enterprise_id: str
    vpcep_id: str | None
    result: str  # ALLOW or DENY
    config: bool  # private access is in force for the request

    @property
    def allowed(self) -> bool:
        return self.result == ALLOW

    def as_dict(self) -> dict:
        return {
            "enterprise_id": self.enterprise_id,
            "vpcep_id": self.vpcep_id,
            "result": self.result,
            "config": self.config,
        }


def in_force(policy: RegionPolicy) -> bool:
    """Private access is configured in a region when it has records and is not switched off."""
    return policy.switched_on and bool(policy.vpcep_ids)


def decide(
    enterprise_id: str,
    policies: Mapping[str, RegionPolicy],
    region: str | None,
    vpcep_id: str | None,
    offered_regions: Collection[str] | None = None,
) -> VpcData:
    """Allow or deny a request.

    * The policies that apply are the request's region's, or for a global request those of every
      region; only regions in ``offered_regions`` count (None: every region).
    * ``config`` is true when any applicable policy is in force (records present, switch on).
    * Not configured: Allow. Configured: Allow exactly when ``vpcep_id`` is on the list of an
      applicable region in force, else Deny.
    """
    applicable = [
        policy
        for name, policy in policies.items()
        if (region is None or name == region)
        and (offered_regions is None or name in offered_regions)
        and in_force(policy)
    ]
    if not applicable:
        return VpcData(enterprise_id, vpcep_id, ALLOW, False)
    listed = vpcep_id is not None and any(vpcep_id in p.vpcep_ids for p in applicable)
    return VpcData(enterprise_id, vpcep_id, ALLOW if listed else DENY, True)
