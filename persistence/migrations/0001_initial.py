# ProcessorState and DeadLetter, taken over from the engine_worker app (issue 11): the
# tables engine_worker 0001 and 0002 created keep their names, so this migration changes
# Django's state only.

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("engine_worker", "0002_deadletter"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
        migrations.CreateModel(
                    name='ProcessorState',
                    fields=[
                        ('shard', models.PositiveSmallIntegerField(primary_key=True, serialize=False)),
                        ('last_seq', models.BigIntegerField(default=0)),
                        ('last_entry_id', models.CharField(default='0-0', max_length=32)),
                        ('engine_state', models.JSONField(default=dict)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={'db_table': 'engine_worker_processorstate'},
                ),
        migrations.CreateModel(
                    name='DeadLetter',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('shard', models.PositiveSmallIntegerField()),
                        ('entry_id', models.CharField(help_text='The event-stream entry id.', max_length=64)),
                        ('first_seq', models.BigIntegerField()),
                        ('last_seq', models.BigIntegerField()),
                        ('fields', models.TextField(help_text="JSON: the stream entry's fields, as read.")),
                        ('error', models.TextField(help_text='Why it failed (the last attempt).')),
                        ('before', models.TextField(blank=True, help_text="JSON: the balances before the entry of each (user, asset) it changes, as the processor knew them; a retry derives the entry's ledger rows from them. Empty if the entry could not be read.")),
                        ('after', models.TextField(blank=True, help_text="JSON: the entry's final balance per (user, asset), with its sequence; the processor's balance before a later entry (ledger derivation).")),
                        ('attempts', models.PositiveIntegerField(default=1)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('last_attempt_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'ordering': ['shard', 'last_seq'],
                        'db_table': 'engine_worker_deadletter',
                        'indexes': [models.Index(fields=['shard', 'last_seq'], name='deadletter_shard_seq')],
                    },
                ),
            ],
        ),
    ]
