from rest_framework import authentication, exceptions

from .services import auth


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>` with the console's named, revocable tokens."""

    def authenticate_credentials(self, key):
        token = auth.api_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token
