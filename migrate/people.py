"""People who sign, their roles and their SSH public keys: `people.yaml` in the project.

```yaml
passphrase_env: MIGRATE_SIGNING_PASSPHRASE   # optional: where `migrate sign` reads a key's passphrase
people:
  - name: wang.fang                          # the principal in allowed_signers; --operator names it
    printed_name: 王芳 (QA)                   # shown on every signature (Part 11 §11.50)
    roles: [qa]                              # consultant, qa, lead, or any role the plan names
    key: ssh-ed25519 AAAAC3Nza... wang.fang@factory
```

The same public keys people use for git; `allowed_signers()` writes them in OpenSSH's
allowed_signers format, limited to the `migrate-evidence` namespace, so that
`ssh-keygen -Y verify` checks a signature without migrate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, field_validator

from migrate.errors import ConfigError
from migrate.project import Project, Spec, interpolate, read_yaml, validated

PEOPLE_FILE = "people.yaml"
NAMESPACE = "migrate-evidence"
KEY_TYPE = "ssh-ed25519"
PERSON = r"^[a-z0-9][a-z0-9._\-]{0,62}$"  # a principal: no spaces, commas or quotes
ROLE = r"^[a-z][a-z0-9_\-]{0,62}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


def key_blob(line: str) -> bytes:
    """The binary public key of an OpenSSH `ssh-ed25519 AAAA... comment` line; ValueError if it is not one."""
    parts = line.split()
    if len(parts) < 2 or parts[0] != KEY_TYPE:
        raise ValueError(f"a key is an OpenSSH public key line starting with {KEY_TYPE}")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key's base64 part does not decode") from None
    # RFC 8709: string "ssh-ed25519", string key (32 bytes)
    name = KEY_TYPE.encode()
    expected_head = len(name).to_bytes(4, "big") + name + (32).to_bytes(4, "big")
    if len(blob) != len(expected_head) + 32 or not blob.startswith(expected_head):
        raise ValueError("the key's base64 part is not an ed25519 public key")
    return blob


def fingerprint(line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key line (what `ssh-keygen -l` prints)."""
    digest = hashlib.sha256(key_blob(line)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


PersonName = Annotated[str, Field(pattern=PERSON)]
Role = Annotated[str, Field(pattern=ROLE)]
EnvName = Annotated[str, Field(pattern=ENV_NAME)]


class PersonSpec(Spec):
    """One person who signs."""

    name: PersonName  # the principal in allowed_signers (lower case, no spaces); `--operator` names it
    printed_name: str = ""  # shown on every signature and in evidence packs
    roles: tuple[Role, ...] = Field(min_length=1)  # consultant, qa, lead, or a role the plan names
    key: str  # an `ssh-ed25519 AAAA... comment` public key line; the comment is not part of the identity

    @field_validator("key")
    @classmethod
    def _ed25519(cls, key: str) -> str:
        key_blob(key)
        return " ".join(key.split()[:2])  # type and key: the comment is not part of the identity

    @property
    def shown(self) -> str:
        return self.printed_name or self.name

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


class PeopleSpec(Spec):
    """people.yaml: who signs, in which roles, with which SSH key."""

    passphrase_env: EnvName | None = None  # environment variable `migrate sign` reads a passphrase from
    people: tuple[PersonSpec, ...] = ()  # every person who may sign; names and keys unique


@dataclass(frozen=True)
class People:
    spec: PeopleSpec

    @property
    def people(self) -> tuple[PersonSpec, ...]:
        return self.spec.people

    def person(self, name: str) -> PersonSpec:
        for p in self.people:
            if p.name == name:
                return p
        raise ConfigError(f"no person {name!r} is declared.", file=PEOPLE_FILE)

    def by_key(self, line: str) -> PersonSpec | None:
        blob = key_blob(line)
        return next((p for p in self.people if key_blob(p.key) == blob), None)

    def with_role(self, role: str) -> tuple[PersonSpec, ...]:
        return tuple(p for p in self.people if role in p.roles)


def load_people(project: Project) -> People:
    """people.yaml, validated: unique names, unique keys."""
    path = project.root / PEOPLE_FILE
    if not path.exists():
        raise ConfigError(
            f"{PEOPLE_FILE} does not exist: nobody is declared to sign.",
            hint="List people with their roles and ssh-ed25519 public keys in people.yaml "
            "(`migrate docs project people` shows its keys and an example).",
        )
    data = read_yaml(path, project.root) or {}
    spec = validated(PeopleSpec, interpolate(data, path, root=project.root), path, project.root)
    for kind, values in (("name", [p.name for p in spec.people]), ("key", [p.key for p in spec.people])):
        doubled = {v for v in values if values.count(v) > 1}
        if doubled:
            index = values.index(next(iter(doubled)))
            raise ConfigError(f"two people share one {kind}.", file=PEOPLE_FILE, key=f"people.{index}.{kind}")
    return People(spec)


def allowed_signers(people: People) -> str:
    """OpenSSH's allowed_signers file: one line per person, valid for migrate's namespace only."""
    return "".join(f'{p.name} namespaces="{NAMESPACE}" {p.key}\n' for p in people.people)
