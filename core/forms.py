"""Reading what a page's form posted, refusing what is not what it claims to be."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UsernameField
from django.core.exceptions import BadRequest, ValidationError

from .choices import Role
from .validators import too_long, validate_plain_name

# The largest primary key a BigAutoField holds: a bigger number is no row, not a 500.
_LARGEST_ID = 2**63 - 1


def posted_id(request, field: str) -> int:
    """The row id posted as `field`; anything but a whole number is a 400 saying so."""
    try:
        return forms.IntegerField(min_value=1, max_value=_LARGEST_ID).clean(request.POST.get(field))
    except ValidationError as exc:
        raise BadRequest(f"'{field}' must be the id of a row, a whole number.") from exc


class LoginNameField(UsernameField):
    """The user name at log-in: stripped and NFKC-normalised (Django's), at most 150
    characters and plain text, so a 2 MB or NUL-laden name never reaches authenticate()."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.TextInput(attrs={"autofocus": True}))
        super().__init__(max_length=150, validators=[validate_plain_name], **kwargs)


class ConsoleLoginForm(AuthenticationForm):
    username = LoginNameField()


class AdminLoginForm(AdminAuthenticationForm):
    username = LoginNameField()


class WholeValuesMixin:
    """A form whose text inputs carry no `maxlength`: a browser cuts a pasted value at
    maxlength without a word, so the whole value is sent and the server refuses one too
    long, saying the limit (`too_long`) and, in `length_why` by field, the reason."""

    length_why: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            limit = getattr(field, "max_length", None)
            if limit is None:
                continue
            field.widget.attrs.pop("maxlength", None)
            what = f"'{field.label or name}'"
            why = self.length_why.get(name, "")
            field.error_messages["max_length"] = too_long(what, limit, "%(show_value)d", why)


ROLE_FIELD_CHOICES = [("", "No role"), *((role.value, role.label) for role in Role)]


class UserCreateForm(WholeValuesMixin, forms.Form):
    """A new user; what makes it valid is checked by core.services.users.user_create."""

    username = forms.CharField(label="User name", max_length=150)
    role = forms.ChoiceField(choices=ROLE_FIELD_CHOICES, required=False, initial="read-only")
    email = forms.CharField(label="E-mail", max_length=254, required=False)
    password = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        max_length=4096,
        help_text="Leave it empty to get a one-time link where the user sets their own.",
    )


class UserRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_FIELD_CHOICES, required=False)
