# OrderLimit, taken over from the accounts app (issue 11): the table accounts 0003
# created keeps its name, so this migration changes Django's state only.

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_alter_order_status"),
        ("accounts", "0003_order_limit"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
        migrations.CreateModel(
                    name='OrderLimit',
                    fields=[
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='order_limit', serialize=False, to=settings.AUTH_USER_MODEL)),
                        ('max_open_orders', models.PositiveIntegerField(help_text='Open orders this user may have in each market.', validators=[django.core.validators.MinValueValidator(1)])),
                    ],
                    options={'db_table': 'accounts_orderlimit'},
                ),
            ],
        ),
    ]
