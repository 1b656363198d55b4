"""`migrate sign` and `migrate people`: signatures with meaning, by declared people."""

from __future__ import annotations

from pathlib import Path

import typer

from migrate import people as people_mod
from migrate import signing
from migrate.cli.context import app_context, emit_json, reported_errors, require_target
from migrate.cli.output import table

people_app = typer.Typer(help="People who sign, their roles and SSH keys (people.yaml).")
DEFAULT_KEY = Path("~/.ssh/id_ed25519")


def sign(
    ctx: typer.Context,
    phase: str = typer.Argument(..., help="The phase whose evidence to sign."),
    role: str = typer.Option(None, "--as", help="The role you sign in (qa, lead, consultant...)."),
    meaning: str = typer.Option(None, "--meaning", help="reviewed, approved or rejected."),
    comment: str = typer.Option("", "--comment", help="A remark signed with the statement."),
    key: Path = typer.Option(
        DEFAULT_KEY,
        "--key",
        help="Your SSH private key (its .pub beside it), or a public key whose private half is in ssh-agent.",
    ),
    prepare: Path = typer.Option(
        None, "--prepare", help="Only write the statement to this file, to sign with `ssh-keygen -Y sign`."
    ),
    statement: Path = typer.Option(
        None, "--statement", help="Accept this statement, signed outside migrate (signature in FILE.sig)."
    ),
    signature: Path = typer.Option(
        None, "--signature", help="The signature of --statement (default FILE.sig)."
    ),
) -> None:
    """Sign the current evidence of a phase with your SSH key, in a role, with a meaning.

    The signature is OpenSSH SSHSIG (namespace migrate-evidence) over a canonical record of the
    phase's evidence: exit 1 if the key is not declared, you lack the role, or the evidence
    changed."""
    app = app_context(ctx)
    key = key.expanduser()
    with reported_errors(ctx):
        require_target(app)
        if statement is not None:
            result = signing.attach(
                app.project, statement, signature or Path(f"{statement}.sig"), app.operator
            )
        else:
            if not role or not meaning:
                from migrate.errors import ConfigError

                raise ConfigError("give --as ROLE and --meaning reviewed|approved|rejected.")
            if prepare is not None:
                stmt = signing.prepare(
                    app.project, phase, role=role, meaning=meaning, key=key, comment=comment
                )
                prepare.write_bytes(stmt.data)
                app.say(f"statement written to {prepare}; sign it with:")
                app.say(f"  ssh-keygen -Y sign -f {key} -n {people_mod.NAMESPACE} {prepare}")
                app.say(f"then: migrate sign {phase} --statement {prepare}")
                if app.json:
                    emit_json(app, {"ok": True, "statement": str(prepare), "fields": stmt.fields})
                return
            result = signing.sign(
                app.project,
                phase,
                role=role,
                meaning=meaning,
                key=key,
                comment=comment,
                operator=app.operator,
            )
    if app.json:
        emit_json(app, result.to_dict())
        return
    s = result.signature
    app.say(
        f"signed: {s.printed_name} ({s.signer}), {s.role}, {s.meaning}, phase {s.phase}, "
        f"{app.when(s.signed_at)}, evidence {s.evidence_sha256[:16]}…"
    )


@people_app.command("list")
def list_people(ctx: typer.Context) -> None:
    """The declared people: name, printed name, roles, key fingerprint."""
    app = app_context(ctx)
    with reported_errors(ctx):
        people = people_mod.load_people(app.project)
    if app.json:
        rows = [p.model_dump() | {"fingerprint": p.fingerprint} for p in people.people]
        emit_json(app, {"ok": True, "people": rows})
        return
    grid = table("name", "printed name", "roles", "key")
    grid.columns[0].no_wrap = grid.columns[-1].no_wrap = True  # a fingerprint is compared whole
    for p in people.people:
        grid.add_row(p.name, p.shown, ", ".join(p.roles), p.fingerprint)
    app.show(grid)


@people_app.command("allowed-signers")
def allowed_signers(
    ctx: typer.Context,
    out: Path = typer.Option(None, "--out", help="Write to this file (default: stdout)."),
) -> None:
    """OpenSSH's allowed_signers file for `ssh-keygen -Y verify -n migrate-evidence`."""
    app = app_context(ctx)
    with reported_errors(ctx):
        text = people_mod.allowed_signers(people_mod.load_people(app.project))
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        app.say(f"allowed signers written to {out}")
