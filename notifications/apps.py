from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from core.signals import alert_changed

        from .services.routing import alert_changed_notify

        # Core raises and clears alerts without knowing who listens.
        alert_changed.connect(alert_changed_notify, dispatch_uid="notifications.alert_changed")
