"""python -m tests.oidc_provider PORT: migrate, make the setup's users and the console's
client, then serve on 127.0.0.1:PORT until stopped. OIDC_PROVIDER_DB, OIDC_PROVIDER_KEY
(an RSA private key, PEM) and OIDC_PROVIDER_SETUP (the JSON file) are in the environment."""

import os
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import run  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

from tests.oidc_provider.claims import setup  # noqa: E402


def main() -> None:
    port = int(sys.argv[1])
    call_command("migrate", verbosity=0, interactive=False)
    config = setup()
    for username, person in config["users"].items():
        User.objects.create_user(username, password=person["password"])
    client = config["client"]
    Application.objects.create(
        name="the console",
        client_id=client["id"],
        client_secret=client["secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=client["redirect_uri"],
        post_logout_redirect_uris=client["post_logout_redirect_uri"],
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,  # the admin's consent screen is not under test
    )
    run("127.0.0.1", port, get_wsgi_application(), threading=True)


main()
