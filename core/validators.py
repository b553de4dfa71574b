"""Checks for text that admins type and others read: names of clusters, tokens, users."""

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
