"""The files an auditor keeps, read for the ``audit`` and ``case export`` commands: a
checkpoint (its signed note, and its block index beside it as ``FILE.index``) and the keys
that sign and check checkpoints (workflow/signing.py). A file that cannot be read or is not
what it should be exits 2 naming it."""

from __future__ import annotations

import json
from pathlib import Path

from jiekun.policies.errors import FieldProblem, InvalidInput, JiekunError
from jiekun.workflow.checkpoint import BlockIndex, Checkpoint
from jiekun.workflow.cli.common import fail
from jiekun.workflow.signing import Signer, Verifier


def _unreadable(path: str, error: Exception) -> InvalidInput:
    return InvalidInput(path, [FieldProblem("", f"cannot read the file: {error}",
                                            f"无法读取文件：{error}")])


def read_checkpoint(path: str, fmt: str) -> Checkpoint:
    """A checkpoint file, with its block index when ``PATH.index`` exists."""
    try:
        text = Path(path).read_text("utf-8")
        index_path = Path(path + ".index")
        index = (BlockIndex.from_json(json.loads(index_path.read_text("utf-8")))
                 if index_path.exists() else None)
        return Checkpoint.from_text(text, index)
    except JiekunError as error:
        fail(fmt, error)
    except (OSError, ValueError) as error:
        fail(fmt, _unreadable(path, error))


def read_signer(path: str, fmt: str) -> Signer:
    """A signer key file (``PRIVATE+KEY+…``, made by ``audit keygen``)."""
    try:
        return Signer.from_text(Path(path).read_text("utf-8"))
    except JiekunError as error:
        fail(fmt, error)
    except OSError as error:
        fail(fmt, _unreadable(path, error))


def read_verifier(path: str, fmt: str) -> Verifier:
    """A verifier key file (``<name>+<id>+<key>``, ``audit keygen``'s ``FILE.pub``)."""
    try:
        return Verifier.from_text(Path(path).read_text("utf-8"))
    except JiekunError as error:
        fail(fmt, error)
    except OSError as error:
        fail(fmt, _unreadable(path, error))
