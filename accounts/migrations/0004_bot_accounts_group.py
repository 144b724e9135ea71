"""The market maker's accounts are marked by settings.BOT_ACCOUNTS_GROUP (the bot refuses
any account outside it). Accounts an earlier bot created carry its name and an unusable
password, which no sign-up can produce: they join the group, so an existing deployment's
bot keeps its accounts."""

from django.conf import settings
from django.db import migrations
from django.db.models import Q


def mark_bot_accounts(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    User = apps.get_model("auth", "User")
    group, _ = Group.objects.get_or_create(name=settings.BOT_ACCOUNTS_GROUP)
    name = settings.MARKET_MAKER["USERNAME"]
    earlier = User.objects.filter(Q(username=name) | Q(username__startswith=f"{name}-"))
    for user in earlier.filter(password__startswith="!"):
        user.groups.add(group)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_order_limit"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(mark_bot_accounts, migrations.RunPython.noop)]
