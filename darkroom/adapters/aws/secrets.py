"""Secrets read at run time from Secrets Manager, never carried in a function's configuration.

A Lambda's environment names secrets by ARN only:
- DARKROOM_DATABASE_SECRET_ARN: the database's secret (RDS's JSON: username, password, host,
  port, and dbname or DARKROOM_DATABASE_NAME), which becomes DARKROOM_DATABASE;
- DARKROOM_SECRET_ARNS: JSON {"VARIABLE": "arn"}, each secret's value becoming that variable
  (DARKROOM_SECRET_KEY, DARKROOM_OPENAI_API_KEY, ...).

Values come through Powertools' parameters utility, cached for `max_age` seconds per container,
so a warm function asks Secrets Manager once per period and a rotated value (the database
password after Secrets Manager's rotation) is picked up at the next read: `changed` tells the
caller to rebuild what was made from the old value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

DATABASE_SECRET_VARIABLE = "DARKROOM_DATABASE_SECRET_ARN"
DATABASE_NAME_VARIABLE = "DARKROOM_DATABASE_NAME"
SECRETS_VARIABLE = "DARKROOM_SECRET_ARNS"
MAX_AGE_VARIABLE = "DARKROOM_SECRETS_MAX_AGE_SECONDS"
DEFAULT_MAX_AGE = 300
# A model-service secret the stack created and nobody has filled in yet: not a key.
UNSET = "unset"


class SecretError(RuntimeError):
    """A named secret cannot be read or is not what it should be; the message says which."""


def _fetch(arn: str, max_age: int) -> str:
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(arn, max_age=max_age)
    except Exception as exc:  # GetParameterError wrapping the client's error
        raise SecretError(f"cannot read secret {arn}: {exc}") from None
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        raise SecretError(f"secret {arn} is not a string")
    return value


def database_url(secret: Mapping[str, Any], default_name: str | None = None) -> str:
    """postgresql://USER:PASSWORD@HOST:PORT/DB from an RDS-style secret, userinfo escaped."""
    try:
        user, password, host = secret["username"], secret["password"], secret["host"]
    except KeyError as exc:
        raise SecretError(f"the database secret has no {exc.args[0]!r}") from None
    name = secret.get("dbname") or default_name or "postgres"
    userinfo = f"{quote(str(user), safe='')}:{quote(str(password), safe='')}"
    if str(host).startswith("/"):  # a socket directory (a local server): libpq's host parameter
        port = f"&port={secret['port']}" if secret.get("port") else ""
        return f"postgresql://{userinfo}@/{name}?host={quote(str(host), safe='/')}{port}"
    return f"postgresql://{userinfo}@{host}:{secret.get('port', 5432)}/{name}"


def resolve(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the named secrets become, read now (within the cache's max age)."""
    env = os.environ if environ is None else environ
    max_age = int(env.get(MAX_AGE_VARIABLE, DEFAULT_MAX_AGE))
    values: dict[str, str] = {}
    database_arn = env.get(DATABASE_SECRET_VARIABLE)
    if database_arn:
        text = _fetch(database_arn, max_age)
        try:
            secret = json.loads(text)
        except json.JSONDecodeError:
            raise SecretError(f"secret {database_arn} is not JSON") from None
        values["DARKROOM_DATABASE"] = database_url(secret, env.get(DATABASE_NAME_VARIABLE))
    named = env.get(SECRETS_VARIABLE)
    if named:
        try:
            arns = json.loads(named)
        except json.JSONDecodeError:
            raise SecretError(f"{SECRETS_VARIABLE} is not JSON") from None
        for variable, arn in sorted(arns.items()):
            value = _fetch(str(arn), max_age).strip()
            if value and value != UNSET:
                values[str(variable)] = value
    return values


class SecretValues:
    """The values a container's Runtime was built with; `changed` after a rotation."""

    def __init__(self) -> None:
        self.current: dict[str, str] | None = None
        # What each variable held before a secret replaced it, so `clear` can put it back.
        self.replaced: dict[str, str | None] = {}

    def refresh(self) -> bool:
        """Read the secrets (cached) and put them into this process's environment, where the
        settings read them; True when they differ from the last values (or on the first call)."""
        values = resolve()
        changed = values != self.current
        if changed:
            for variable in set(self.current or {}) - set(values):
                self._restore(variable)
            for variable in values:
                self.replaced.setdefault(variable, os.environ.get(variable))
            os.environ.update(values)
            self.current = values
        return changed

    def clear(self) -> None:
        """Forget the values and take them out of the environment again (as it was before)."""
        for variable in list(self.replaced):
            self._restore(variable)
        self.current = None

    def _restore(self, variable: str) -> None:
        before = self.replaced.pop(variable, None)
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before
