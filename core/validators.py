"""Checks for text that admins type and others read: names of clusters, tokens, users.

A value longer than its limit is refused, saying the limit and why, never cut short:
`too_long` words the refusal for forms (`core.forms.WholeValuesMixin`) and the API
(`core.api.fields.PlainTextField`) alike.
"""

import unicodedata

from django.core.exceptions import ValidationError

# Control (Cc: NUL, newline, escape), format (Cf: the bidi overrides U+202A-U+202E and
# isolates U+2066-U+2069, zero-width spaces and joiners), surrogate, private use, and
# line/paragraph separators. None belongs in a name; bidi controls make one read as
# another ("gnp.\u202eexe" shows as "exe.png"), and PostgreSQL refuses NUL outright.
REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def validate_plain_name(value: str) -> None:
    """Refuse a name holding control or invisible formatting characters."""
    for char in value:
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            raise ValidationError(
                "Names may not hold control or invisible formatting characters "
                "(found U+%(code)04X); type the name plainly.",
                code="control_character",
                params={"code": ord(char)},
            )


def too_long(what: str, limit: int, length: int | str, why: str = "") -> str:
    """The refusal of a value longer than its limit (`length` may be a %-placeholder)."""
    because = f" ({why})" if why else ""
    return (
        f"{what} is at most {limit} characters{because}; this one has {length}. Nothing was "
        "cut: shorten it and send it again."
    )
