# ProcessorState and DeadLetter moved to the persistence app (issue 11). Their tables keep
# their names; only Django's state moves (persistence 0001 takes them over).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("engine_worker", "0002_deadletter"),
        ("persistence", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="DeadLetter"),
                migrations.DeleteModel(name="ProcessorState"),
            ],
        ),
    ]
