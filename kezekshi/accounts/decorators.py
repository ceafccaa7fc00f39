"""The one gate every staff page passes: signed in, second factor, school, permission."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from kezekshi.accounts.permissions import has_perm, staff_schools
from kezekshi.accounts.roles import Perm
from kezekshi.core.errors import Forbidden
from kezekshi.core.models import School

SESSION_SCHOOL = "school_id"
View = Callable[..., HttpResponseBase]
Handler = TypeVar("Handler", bound=Callable[..., Any])


def current_school(request: HttpRequest) -> School | None:
    """The school the staff member works in now (chosen in the switcher; first by default)."""
    schools = staff_schools(request.user)  # type: ignore[arg-type]
    chosen = request.session.get(SESSION_SCHOOL)
    school = schools.filter(pk=chosen).first() if chosen else None
    return school or schools.order_by("pk").first()


def staff_view(perm: Perm) -> Callable[[View], View]:
    """Wrap a portal view: it runs only for a verified user holding ``perm`` in the school.

    Sets ``request.school``. The permission is kept on the view as ``required_permission``
    so the role-matrix test can find every page and check it.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            back = urlencode({"next": request.get_full_path()})
            if not user.is_authenticated:
                return redirect(f"{reverse('portal:login')}?{back}")
            if user.requires_two_factor and not user.is_verified():  # type: ignore[union-attr,attr-defined]
                return redirect(f"{reverse('portal:two_factor')}?{back}")
            school = current_school(request)
            if school is None or not has_perm(user, perm, school):  # type: ignore[arg-type]
                raise PermissionDenied
            request.school = school  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        wrapper.required_permission = perm  # type: ignore[attr-defined]
        return wrapper

    return decorate


def public_view(view: Handler) -> Handler:
    """Mark a page as open to anyone (sign-in pages); the role-matrix test skips it."""
    view.required_permission = None  # type: ignore[attr-defined]
    return view


def school_api(perm: Perm) -> Callable[[Handler], Handler]:
    """Wrap an API handler taking ``school_id`` from its path: 403 unless ``perm`` is held.

    Sets ``request.school``; keeps ``required_permission`` for the role-matrix test.
    """

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            school = School.objects.filter(pk=kwargs["school_id"], is_active=True).first()
            if school is None or not has_perm(request.user, perm, school):  # type: ignore[arg-type]
                raise Forbidden("forbidden", _("You have no access to this school's data."))
            request.school = school  # type: ignore[attr-defined]
            return handler(request, *args, **kwargs)

        wrapper.required_permission = perm  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def signed_in_api(handler: Handler) -> Handler:
    """Mark an API handler that serves only the caller's own data (``/me``)."""
    handler.required_permission = None  # type: ignore[attr-defined]
    return handler
