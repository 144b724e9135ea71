from django.conf import settings
from django.db import migrations


def create_fee_account(apps, schema_editor):
    User = apps.get_model("auth", "User")
    User.objects.get_or_create(
        username=settings.FEE_ACCOUNT_USERNAME,
        defaults={"is_active": False, "password": "!"},  # unusable password: nobody logs in
    )


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_fee_account, migrations.RunPython.noop)]
