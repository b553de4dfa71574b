from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .permissions import VIEW


def role_required(permission: str = VIEW):
    """A page for users holding `permission`; everyone else gets 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.has_perm(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def single_sign_on_only(view):
    """A single sign-on view, open to those not signed in yet; 404 on a console with no
    provider set up (OIDC_RP_CLIENT_ID)."""

    @login_not_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.OIDC_RP_CLIENT_ID:
            raise Http404("Single sign-on is not set up on this console.")
        return view(request, *args, **kwargs)

    return wrapper
