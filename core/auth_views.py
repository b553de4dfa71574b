from django.contrib import messages
from django.contrib.auth import views as auth_views

from .errors import ConsoleError
from .services import auth


class ThrottledLoginView(auth_views.LoginView):
    """Django's login page, refusing further attempts after repeated failures."""

    def _identity(self, request) -> tuple[str, str]:
        return request.POST.get("username", ""), request.META.get("REMOTE_ADDR", "")

    def post(self, request, *args, **kwargs):
        username, address = self._identity(request)
        try:
            auth.login_throttle_check(username=username, address=address)
        except ConsoleError as exc:
            messages.error(request, exc.message)
            return self.render_to_response(self.get_context_data(), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        username, address = self._identity(self.request)
        auth.login_failure_record(username=username, address=address)
        return super().form_invalid(form)

    def form_valid(self, form):
        auth.login_success_record(username=form.get_user().get_username())
        return super().form_valid(form)
