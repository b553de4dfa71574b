import json
import os

from oauth2_provider.oauth2_validators import OAuth2Validator


def setup() -> dict:
    with open(os.environ["OIDC_PROVIDER_SETUP"]) as file:
        return json.load(file)


class ClaimsValidator(OAuth2Validator):
    """The user's claims as the setup file says now; `groups` under the scope of its name,
    as Dex and Authentik send it."""

    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "groups": "groups",
        "preferred_username": "profile",
    }

    def get_additional_claims(self, request):
        person = setup()["users"][request.user.username]
        return {"preferred_username": request.user.username, **person.get("claims", {})}
