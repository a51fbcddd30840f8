"""``jiekun db upgrade``, ``jiekun audit verify`` and ``audit checkpoint``: the store's schema,
the check that every stored chain and fold is intact, and the Merkle checkpoints of its log
(workflow/checkpoint.py) an auditor keeps outside the store."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from jiekun.persistence.database import make_engine, upgrade
from jiekun.policies.errors import FieldProblem, InvalidInput, JiekunError
from jiekun.states import build_lifecycle
from jiekun.workflow.audit_parallel import verify_store
from jiekun.workflow.checkpoint import (
    CheckpointCheck,
    Finding,
    take_checkpoint,
    verify_against,
)
from jiekun.workflow.cli.audit_files import read_checkpoint, read_signer, read_verifier
from jiekun.workflow.cli.common import (
    EXIT_VIOLATIONS,
    TIME_HELP,
    as_option,
    db_option,
    emit,
    fail,
    open_engine,
    parse_actor,
    read_input,
    read_time,
    store_common,
    unavailable,
)
from jiekun.workflow.clock import RealClock
from jiekun.workflow.export_check import check_export
from jiekun.workflow.signing import Signer


@click.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@db_option
def db_upgrade(db_url: str) -> None:
    """Create or migrate the store's schema to this version of jiekun."""
    try:
        revision = upgrade(make_engine(db_url))
    except JiekunError as error:  # a URL of another database: exit 2
        fail("text", error)
    except Exception as error:  # the driver's own error (unreachable, refused): exit 4
        fail("text", unavailable(db_url, error))
    click.echo(f"schema at revision {revision}")


@click.group()
def audit() -> None:
    """Audits of the store."""


@audit.command("verify")
@click.option("--workers", type=int, default=None,
              help="processes (default: one per core; large stores only)")
@click.option("--against", "against", type=click.Path(dir_okay=False), default=None,
              help="a checkpoint taken earlier (`audit checkpoint`): the store must still hold "
                   "its log as a prefix; its block index is read from CHECKPOINT.index")
@click.option("--key", "key", type=click.Path(dir_okay=False), default=None,
              help="a verifier key (`audit keygen`'s FILE.pub): the checkpoint must carry its "
                   "valid signature")
@db_option
@store_common
def audit_verify(workers: int | None, against: str | None, key: str | None, db_url: str,
                 fmt: str) -> None:
    """Recompute every chain and re-fold every case; exit 1 naming every broken case (and,
    with --against, every place the log differs from the checkpoint's)."""
    verifier = None if key is None else read_verifier(key, fmt)
    engine = open_engine(db_url, fmt)
    mark = None if against is None else read_checkpoint(against, fmt)
    checked: list[CheckpointCheck] = []

    def check_log() -> None:
        assert mark is not None
        # the chains verified meanwhile recompute every hash: the log needs only the leaves
        checked.append(verify_against(engine.store, mark, content=False))

    report = verify_store(db_url, engine.decider.policy, workers,
                          meanwhile=None if mark is None else check_log)
    held = checked[0] if checked else None
    if held is not None and mark is not None and verifier is not None and not verifier.signed(
            mark.note_text(), mark.signatures):
        held.findings.insert(0, Finding("signature", f"the checkpoint carries no valid "
                                                     f"signature of {verifier.name}"))
    result = report.as_json()
    if held is not None:
        result["against"] = held.as_json()
        if verifier is not None:
            result["against"]["signed_by"] = verifier.name if not any(
                f.kind == "signature" for f in held.findings) else None
    emit(fmt, result, _verified_text)
    sys.exit(0 if report.ok and (held is None or held.ok) else EXIT_VIOLATIONS)


def _verified_text(r: dict[str, Any]) -> str:
    lines = [f"audit verify: {r['cases']} cases, {r['events']} events: "
             + ("all chains and folds agree" if r["ok"] else
                f"BROKEN — {r['problems']} case(s):")]
    lines += [f"  case {p['case']}, event {p['seq']}: {p['reason']}" for p in r["broken"]]
    checks = r.get("checks") or {}
    skipped = [name for name, ran in checks.items() if not ran]
    if checks:
        lines.append("checks run: " + ", ".join(n for n, ran in checks.items() if ran)
                     + (f"; not run: {', '.join(skipped)} — {r.get('sealed_cases', 0)} case(s) "
                        "sealed, no key configured (JIEKUN_MASTER_KEY_FILE)" if skipped else ""))
    held = r.get("against")
    if held is not None:
        mark = held["checkpoint"]
        lines.append(f"against the checkpoint of {mark['time']} ({mark['size']} events): "
                     + (f"the log holds it as a prefix (now {held['size']} events, "
                        "consistency proof verified)" if held["ok"] else "BROKEN")
                     + (f"; signed by {held['signed_by']}" if held.get("signed_by") else ""))
        lines += [f"  {f['kind']}: {f['message']}" for f in held["findings"]]
    return "\n".join(lines)


@audit.command("checkpoint")
@click.option("-o", "output", type=click.Path(dir_okay=False), required=True,
              help="the checkpoint (a signed-note text); its block index goes to OUTPUT.index")
@click.option("--key", "key", type=click.Path(dir_okay=False), default=None,
              help="sign it with this signer key (`audit keygen`; Ed25519, C2SP signed note)")
@db_option
@store_common
def audit_checkpoint(output: str, key: str | None, db_url: str, fmt: str) -> None:
    """The store's log now: size and Merkle root (RFC 9162) of every event in commit order.
    Keep it outside the store; `audit verify --against` proves the store still holds it."""
    signer = None if key is None else read_signer(key, fmt)
    engine = open_engine(db_url, fmt)
    mark = take_checkpoint(engine.store, RealClock().now())
    if signer is not None:
        mark = dataclasses.replace(mark, signatures=(signer.sign(mark.note_text()),))
    Path(output).write_text(mark.to_text(), "utf-8")
    if mark.index is not None:
        Path(output + ".index").write_text(json.dumps(mark.index.as_json()), "utf-8")
    emit(fmt, mark.as_json(), lambda r: f"checkpoint: {r['size']} events, root {r['root']} "
                                        f"({r['origin']}, {r['time']}) → {output}")


@audit.command("attempts")
@click.option("--case", "case_id", default=None, help="only the attempts on this case")
@click.option("--actor", "actor", default=None,
              help="only the attempts of ROLE:ORG (worker:ID: matched by its digest)")
@click.option("--since", default=None,
              help="only commands dated at or after this time; " + TIME_HELP)
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@as_option
@db_option
@store_common
def audit_attempts(case_id: str | None, actor: str | None, since: str | None, limit: int,
                   reader: str, db_url: str, fmt: str) -> None:
    """Refused commands (issue 16), oldest first: when, case, actor, trigger and the refusal's
    code; no payload. An auditor reads them all; others their own organisation's attempts
    and those on the cases they may read."""
    engine = open_engine(db_url, fmt)
    rows = engine.attempts(parse_actor(reader), case_id=case_id,
                           actor=None if actor is None else parse_actor(actor),
                           since=None if since is None else read_time(since, "--since", fmt),
                           limit=limit)
    shown = [{**row, "at": row["at"].isoformat(), "recorded_at": row["recorded_at"].isoformat()}
             for row in rows]
    emit(fmt, {"attempts": shown}, _attempts_text)


def _attempts_text(r: dict[str, Any]) -> str:
    lines = [f"audit attempts: {len(r['attempts'])} refused command(s)"]
    lines += [f"  #{a['position']} {a['at']} case {a['case_id']} {a['trigger']} by "
              f"{a['actor_role']}{':' + str(a['actor_org']) if a['actor_org'] else ''}: "
              f"{a['code']}" for a in r["attempts"]]
    return "\n".join(lines)


@audit.command("keygen")
@click.option("--name", required=True, help="the key's name, e.g. wuxi-federation-audit")
@click.option("-o", "output", type=click.Path(dir_okay=False), required=True,
              help="the signer key (secret, written 0600); the verifier key goes to OUTPUT.pub")
def audit_keygen(name: str, output: str) -> None:
    """A new Ed25519 key pair for signing checkpoints (C2SP signed-note keys). The signer
    key stays with who takes checkpoints; FILE.pub goes to the auditors."""
    try:
        signer = Signer.generate(name)
    except JiekunError as error:
        fail("text", error)
    secret = Path(output)
    if secret.exists():
        fail("text", InvalidInput(output, [FieldProblem(
            "-o", "the file exists: a key is not overwritten", "文件已存在：不覆盖已有密钥")]))
    # created 0600 before the secret is written into it
    secret.touch(mode=0o600)
    secret.write_text(signer.to_text() + "\n", "utf-8")
    Path(output + ".pub").write_text(signer.verifier().to_text() + "\n", "utf-8")
    click.echo(f"signer key → {output} (keep it secret); verifier key → {output}.pub")


@audit.command("verify-export")
@click.argument("export", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--against", "against", type=click.Path(dir_okay=False), default=None,
              help="a checkpoint you kept: the export must carry the consistency proof from it "
                   "(`case export --against`)")
@click.option("--key", "key", type=click.Path(dir_okay=False), default=None,
              help="a verifier key: the export's checkpoint must carry its valid signature")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def audit_verify_export(export: str, against: str | None, key: str | None, fmt: str) -> None:
    """Check an export on its own (no store): every hash recomputed from its line, every
    chain link, every inclusion proof against its checkpoint; with --against, that its
    checkpoint extends the one you kept. Exit 1 naming each line that fails."""
    held = None if against is None else read_checkpoint(against, fmt)
    verifier = None if key is None else read_verifier(key, fmt)
    text = read_input(export, fmt)
    report = check_export(text.splitlines(), build_lifecycle(), verifier=verifier,
                          against=held)
    emit(fmt, report.as_json(), _export_text)
    sys.exit(0 if report.ok and report.against != "failed" else EXIT_VIOLATIONS)


def _export_text(r: dict[str, Any]) -> str:
    mark = r["checkpoint"]
    head = (f"verify-export: {r['events']} events of {r['cases']} case(s)"
            + (f", checkpoint of {mark['time']} ({mark['size']} events)" if mark else ""))
    if not r["ok"]:
        return "\n".join([head + ": BROKEN"] + [
            f"  {'line ' + str(f['line']) if f['line'] else 'the file'}"
            + (f", case {f['case']}" if f["case"] else "")
            + (f" #{f['seq']}" if f["seq"] is not None else "")
            + f": {f['kind']}: {f['message']}" for f in r["findings"]])
    lines = [head + ": every hash, chain link and inclusion proof agrees"]
    if r["against"] == "verified":
        lines.append("  its checkpoint extends the checkpoint you kept (consistency proof "
                     "verified): these events are the store's")
    if r["signature"] == "verified":
        lines.append("  its checkpoint is signed by the key you gave")
    if not r["proven"]:
        lines.append("  consistent with itself only — this proves nothing about the store: "
                     "check it --against a checkpoint you kept, or --key a key you trust")
    return "\n".join(lines)
