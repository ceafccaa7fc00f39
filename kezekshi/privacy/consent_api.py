"""Consent API for the parents' app: read the policy, consent, decide on biometrics."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Router, Schema

from kezekshi.accounts.api import AUTH, client_ip
from kezekshi.accounts.decorators import public_view, signed_in_api
from kezekshi.accounts.models import User
from kezekshi.core.errors import NotFound, ServiceError
from kezekshi.people.models import Pupil
from kezekshi.privacy import services
from kezekshi.privacy.models import BIOMETRIC_KINDS

router = Router(tags=["consent"])


class PolicyOut(Schema):
    id: int
    number: int
    published_at: dt.datetime
    content_hash: str
    language: str
    text: str


class ConsentIn(Schema):
    policy_id: int
    agree: bool


class ConsentOut(Schema):
    consented: bool
    recorded: int


class BiometricIn(Schema):
    kind: str
    allow: bool


class BiometricOut(Schema):
    kind: str
    allowed: bool
    reason: str


def _context(request: HttpRequest, user: User) -> services.Context:
    return services.Context(
        phone=user.phone or "",
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )


@router.get("/policy", response=PolicyOut, summary="The current personal-data policy")
@public_view
def policy(request: HttpRequest) -> dict[str, object]:
    current = services.current_policy()
    if current is None or current.published_at is None:
        raise NotFound("no_policy", _("No policy is published yet."))
    language = (get_language() or "kk")[:2]
    return {
        "id": current.pk,
        "number": current.number,
        "published_at": current.published_at,
        "content_hash": current.content_hash,
        "language": language,
        "text": current.text(language),
    }


@router.post(
    "/consent", auth=AUTH, response={200: ConsentOut, 409: dict, 422: dict}, summary="Consent"
)
@signed_in_api
def consent(request: HttpRequest, payload: ConsentIn) -> dict[str, object]:
    """Consent to the current policy for yourself and each child you represent."""
    user = request.auth  # type: ignore[attr-defined]
    if not payload.agree:
        raise ServiceError("consent_not_given", _("Tick the box to give your consent."), status=422)
    current = services.current_policy()
    if current is None or current.pk != payload.policy_id:
        raise ServiceError(
            "policy_not_current", _("This policy version is no longer current."), status=409
        )
    written = services.accept_policy(user=user, policy=current, context=_context(request, user))
    return {"consented": services.has_current_consent(user), "recorded": len(written)}


@router.get(
    "/children/{pupil_id}/biometrics", auth=AUTH, response=list[BiometricOut], summary="Biometrics"
)
@signed_in_api
def biometrics(request: HttpRequest, pupil_id: int) -> list[dict[str, object]]:
    pupil = get_object_or_404(
        Pupil.objects.distinct(),
        pk=pupil_id,
        guardianships__guardian__person__user=request.auth,  # type: ignore[attr-defined]
        guardianships__is_legal_representative=True,
    )
    return [
        {"kind": kind, **vars(services.biometric_state(pupil.person, kind))}
        for kind in BIOMETRIC_KINDS
    ]


@router.post(
    "/children/{pupil_id}/biometrics",
    auth=AUTH,
    response={200: BiometricOut, 403: dict, 422: dict},
    summary="Allow or withdraw one kind of biometrics for a child",
)
@signed_in_api
def decide(request: HttpRequest, pupil_id: int, payload: BiometricIn) -> dict[str, object]:
    user = request.auth  # type: ignore[attr-defined]
    pupil = Pupil.objects.select_related("person", "school").filter(pk=pupil_id).first()
    if pupil is None:
        # The same answer as for someone else's child: ids cannot be probed.
        raise ServiceError(
            "not_representative",
            _("Only a legal representative of this child can do this."),
            status=403,
        )
    services.decide_biometrics(
        user=user,
        child=pupil.person,
        kind=payload.kind,
        grant=payload.allow,
        context=_context(request, user),
    )
    return {"kind": payload.kind, **vars(services.biometric_state(pupil.person, payload.kind))}
