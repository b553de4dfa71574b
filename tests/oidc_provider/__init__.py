"""A real OpenID Connect provider for the single sign-on tests: django-oauth-toolkit, a
well-kept provider, run as a process of its own (`python -m tests.oidc_provider`), with
its own settings and SQLite database. Its users, their claims and the console's client
come from a JSON file the test writes; the claims are read again at every sign-in, so a
test changes a user's groups by writing the file."""
