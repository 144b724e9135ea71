"""A market's maximum price (issue 10): existing markets get the highest price whose
notional at their maximum quantity the database can store (marketdata.units)."""

from decimal import Decimal

from django.db import migrations, models, router


def fill_max_price(apps, schema_editor):
    from marketdata.units import max_price_default

    Market = apps.get_model("marketdata", "Market")
    alias = schema_editor.connection.alias
    if not router.allow_migrate_model(alias, Market):
        return
    for market in Market.objects.using(alias):
        market.max_price = max_price_default(
            market.tick_size.normalize(), market.max_quantity.normalize()
        )
        market.save(update_fields=["max_price"])


class Migration(migrations.Migration):
    dependencies = [("marketdata", "0002_timeseries")]

    operations = [
        migrations.AddField(
            model_name="market",
            name="max_price",
            field=models.DecimalField(decimal_places=18, default=Decimal(0), max_digits=38),
            preserve_default=False,
        ),
        migrations.RunPython(fill_max_price, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="market",
            name="max_price",
            field=models.DecimalField(
                blank=True,
                decimal_places=18,
                help_text="Orders above this price are refused. Empty: the highest price "
                "whose notional at the maximum quantity the database can still store.",
                max_digits=38,
            ),
        ),
    ]
