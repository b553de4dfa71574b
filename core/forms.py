"""Reading what a page's form posted, refusing what is not what it claims to be."""

from django import forms
from django.core.exceptions import BadRequest, ValidationError

# The largest primary key a BigAutoField holds: a bigger number is no row, not a 500.
_LARGEST_ID = 2**63 - 1


def posted_id(request, field: str) -> int:
    """The row id posted as `field`; anything but a whole number is a 400 saying so."""
    try:
        return forms.IntegerField(min_value=1, max_value=_LARGEST_ID).clean(request.POST.get(field))
    except ValidationError as exc:
        raise BadRequest(f"'{field}' must be the id of a row, a whole number.") from exc
