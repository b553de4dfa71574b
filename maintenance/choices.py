from django.db import models


class MaintenanceState(models.TextChoices):
    ENTERING = "entering", "Entering maintenance"
    IN_MAINTENANCE = "in", "In maintenance: reboot it to exit"
    EXITING = "exiting", "Leaving maintenance"
