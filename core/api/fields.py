from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from core.validators import too_long, validate_plain_name


class PlainTextField(serializers.CharField):
    """Text an admin types, refused while being read if it holds control characters or is
    longer than its limit (saying the limit and, given `length_why`, the reason for it).

    Refused here, before the field's validators run: one of them (uniqueness) queries the
    database with the value, and PostgreSQL answers a NUL with an error, not a miss.
    """

    def __init__(self, *, length_why: str = "", **kwargs):
        self.length_why = length_why  # why the limit is what it is, said when it is passed
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if self.max_length is not None and len(value) > self.max_length:
            what = f"'{self.field_name}'"
            raise serializers.ValidationError(
                too_long(what, self.max_length, len(value), self.length_why), code="max_length"
            )
        try:
            validate_plain_name(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


class DetailUrlField(serializers.HyperlinkedIdentityField):
    """A row's API address, reversed once per response and filled in per row.

    One `reverse` per row cost a third of a list response's time; the address differs
    between rows only in the primary key.
    """

    PLACEHOLDER = "2147483647"

    def get_url(self, obj, view_name, request, format):
        if format or self.lookup_field != "pk":
            return super().get_url(obj, view_name, request, format)
        cached = getattr(self, "_address", None)
        if cached is None or cached[0] is not request:
            kwargs = {self.lookup_url_kwarg: self.PLACEHOLDER}
            url = self.reverse(view_name, kwargs=kwargs, request=request)
            cached = (request, *url.rsplit(self.PLACEHOLDER, 1))
            self._address = cached
        _request, before, after = cached
        return f"{before}{obj.pk}{after}"
