"""Shared fixtures: the default policy and a decider, built once per test session; a master
key for every store the tests make (issue 19)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from jiekun.persistence.keys import MASTER_KEY_ENV, create_master_key_file
from jiekun.policies.policy_file import Policy, load_policy
from jiekun.workflow.decider import Decider

CASES = Path(__file__).parent / "cases"


@pytest.fixture(scope="session", autouse=True)
def master_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One master key file (and its key store) for the session, named in the environment as
    an operator would (``JIEKUN_MASTER_KEY_FILE``): every store a test makes, in this process
    or in a command it starts, seals its vault under it. Keys are scoped by store, so stores
    sharing it never share a case's key."""
    path = tmp_path_factory.mktemp("keys") / "master-key"
    create_master_key_file(path)
    before = os.environ.get(MASTER_KEY_ENV)
    os.environ[MASTER_KEY_ENV] = str(path)
    yield path
    if before is None:
        os.environ.pop(MASTER_KEY_ENV, None)
    else:
        os.environ[MASTER_KEY_ENV] = before


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="session")
def decider(policy: Policy) -> Decider:
    return Decider(policy)
