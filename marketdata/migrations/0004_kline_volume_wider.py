"""A candle's volume is a sum of amounts: wider columns than one amount's (issue 10)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketdata", "0003_market_max_price"),
    ]

    operations = [
        migrations.AlterField(
            model_name="kline",
            name="quote_volume",
            field=models.DecimalField(decimal_places=18, max_digits=57),
        ),
        migrations.AlterField(
            model_name="kline",
            name="volume",
            field=models.DecimalField(decimal_places=18, max_digits=57),
        ),
    ]
