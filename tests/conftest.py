"""Shared fixtures: the default policy and a decider, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiekun.policies.policy_file import Policy, load_policy
from jiekun.workflow.decider import Decider

CASES = Path(__file__).parent / "cases"


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="session")
def decider(policy: Policy) -> Decider:
    return Decider(policy)
