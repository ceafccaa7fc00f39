"""Who is asking in the parents' app, and which of their children a page may open."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from kezekshi.accounts.models import User
from kezekshi.people.models import Guardianship, Pupil
from kezekshi.people.selectors import children_of


def signed_in_user(request: HttpRequest) -> User:
    """The signed-in user (pages behind ``login_required``)."""
    user = request.user
    assert isinstance(user, User)
    return user


def guardians_child(request: HttpRequest, pupil_id: int) -> Pupil:
    """One of the signed-in guardian's children; anyone else's child is not found (404)."""
    child = children_of(signed_in_user(request)).filter(pk=pupil_id).first()
    if child is None:
        raise Http404
    return child


def represents(request: HttpRequest, child: Pupil) -> bool:
    """Whether the signed-in user is a legal representative of ``child``."""
    return Guardianship.objects.filter(
        pupil=child, guardian__person__user=signed_in_user(request), is_legal_representative=True
    ).exists()


def openable_child(request: HttpRequest, pupil_id: int) -> Pupil:
    """One of the signed-in guardian's children; anyone else's child is not found (404),
    and a child whose data are blocked is found only by a legal representative."""
    child = guardians_child(request, pupil_id)
    if child.person.blocked_at is not None and not represents(request, child):
        raise Http404
    return child


def represented_child(request: HttpRequest, pupil_id: int, *, studying: bool = False) -> Pupil:
    """A child the signed-in user is a legal representative of, or 404 (never someone
    else's). ``studying`` also leaves out a child who left the school."""
    rows = Pupil.objects.select_related("person", "school", "school_class").distinct()
    if studying:
        rows = rows.filter(is_active=True)
    return get_object_or_404(
        rows,
        pk=pupil_id,
        guardianships__guardian__person__user=request.user,
        guardianships__is_legal_representative=True,
    )
