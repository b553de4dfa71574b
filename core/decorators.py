from functools import wraps

from django.core.exceptions import PermissionDenied

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
