from rest_framework import authentication, exceptions

from .services import auth


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>` with the console's named, revocable tokens."""

    def authenticate_credentials(self, key):
        try:
            token = auth.api_token_authenticate(key=key)
        except auth.TokenRefused as exc:
            raise exceptions.AuthenticationFailed(exc.message) from exc
        return token.user, token
