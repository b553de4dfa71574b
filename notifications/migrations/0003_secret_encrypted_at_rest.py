"""Web-hook secrets are kept encrypted with the console's key (core.secrets)."""

from django.db import migrations, models

from core.secrets import secret_decrypt, secret_encrypt


def encrypt_secrets(apps, schema_editor):
    NotificationTarget = apps.get_model("notifications", "NotificationTarget")
    for target in NotificationTarget.objects.exclude(secret_encrypted=""):
        target.secret_encrypted = secret_encrypt(target.secret_encrypted)
        target.save(update_fields=["secret_encrypted"])


def decrypt_secrets(apps, schema_editor):
    NotificationTarget = apps.get_model("notifications", "NotificationTarget")
    for target in NotificationTarget.objects.exclude(secret_encrypted=""):
        target.secret_encrypted = secret_decrypt(target.secret_encrypted)
        target.save(update_fields=["secret_encrypted"])


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_still_open_after_snooze"),
    ]

    operations = [
        migrations.RenameField("notificationtarget", "secret", "secret_encrypted"),
        migrations.AlterField(
            model_name="notificationtarget",
            name="secret_encrypted",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
    ]
