from django.contrib import admin

from .forms import AdminLoginForm
from .models import Alert, AuditEvent, Task

# The admin's log-in reads the name as the console's does (and axes throttles both).
admin.site.login_form = AdminLoginForm


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "progress", "user", "created"]
    list_filter = ["status", "kind"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created", "actor_name", "action", "target_repr", "outcome"]
    list_filter = ["outcome"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["name", "priority", "target_repr", "created", "acknowledged", "cleared"]
