# OrderLimit moved to the orders app (issue 11). Its table keeps its name; only Django's
# state moves (orders 0003 takes it over).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_bot_accounts_group"),
        ("orders", "0003_order_limit"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OrderLimit")],
        ),
    ]
