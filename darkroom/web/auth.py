"""Who is signed in: the API key in the session cookie, checked by the API's own
`authenticate` (same keys, plans, rate limits and owner), so the UI sees exactly what the API
would show that key. Pages that change something also pass the CSRF check."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request

from darkroom.api.security import Principal, authenticate, require_admin
from darkroom.web import csrf
from darkroom.web.session import COOKIE, Session, SessionCodec


class SignInNeeded(Exception):
    """No valid session: the app answers with the sign-in page (or HX-Redirect to it)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Visitor:
    principal: Principal
    session: Session

    @property
    def owner(self) -> str:
        return self.principal.owner

    @property
    def admin(self) -> bool:
        return self.principal.key.admin


def codec(request: Request) -> SessionCodec:
    return request.app.state.sessions  # type: ignore[no-any-return]


def current_session(request: Request) -> Session | None:
    return codec(request).decode(request.cookies.get(COOKIE))


async def signed_in(request: Request) -> Visitor:
    session = current_session(request)
    if session is None:
        raise SignInNeeded()
    try:
        principal = authenticate(request, session.api_key)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise SignInNeeded("your key is no longer valid") from None
        raise
    await csrf.check(request, session)
    return Visitor(principal, session)


async def admin(request: Request) -> Visitor:
    visitor = await signed_in(request)
    require_admin(visitor.principal)
    return visitor
