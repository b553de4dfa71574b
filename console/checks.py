"""System checks for running the console for real (`manage.py check --deploy`)."""

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core import checks

COLLECT = "python manage.py collectstatic --noinput"


def static_manifest_problem() -> str | None:
    """Why every page would fail to render, if the static files were never collected."""
    if settings.DEBUG or not isinstance(staticfiles_storage, ManifestFilesMixin):
        return None
    manifest = staticfiles_storage.path(staticfiles_storage.manifest_name)
    if staticfiles_storage.exists(staticfiles_storage.manifest_name):
        return None
    return (
        f"DEBUG is off and the static files were never collected ({manifest} is missing): "
        "every page would answer 500."
    )


@checks.register(checks.Tags.staticfiles, deploy=True)
def check_static_collected(app_configs=None, **kwargs):
    problem = static_manifest_problem()
    if problem is None:
        return []
    return [
        checks.Error(
            problem,
            hint=f"Run `{COLLECT}` (with the same environment), and again after every upgrade.",
            id="console.E001",
        )
    ]
