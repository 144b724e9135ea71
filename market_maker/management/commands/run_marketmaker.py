from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from infra import metrics
from infra.metrics import MetricSet
from market_maker.bot import (
    BotConfig,
    LoadGenerator,
    MarketMaker,
    foreign_account_message,
    foreign_accounts,
)
from market_maker.quoting import LadderConfig


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CommandError(f"not a number: {value!r}") from None


class Command(BaseCommand):
    help = (
        "Keep every enabled market's book liquid through the public REST API: a bot user "
        "quotes a ladder of levels per side around a reference price and a second bot user "
        "crosses now and then so trades print. With --load-rate, drive that many orders per "
        "second from --load-users bot users instead (benchmarks). Defaults come from "
        "settings.MARKET_MAKER (MARKET_MAKER_* environment variables). SIGTERM/SIGINT stop "
        "after the current cycle."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mm = settings.MARKET_MAKER
        parser.add_argument("--base-url", default=mm["BASE_URL"], help="The API's address.")
        parser.add_argument("--username", default=mm["USERNAME"], help="The bot user's name.")
        parser.add_argument(
            "--markets", default=",".join(mm["MARKETS"]), help="Comma-separated symbols (all)."
        )
        parser.add_argument("--levels", type=int, default=mm["LEVELS"], help="Levels per side.")
        parser.add_argument("--spread-bps", default=str(mm["SPREAD_BPS"]), help="Best bid to ask.")
        parser.add_argument("--step-bps", default=str(mm["STEP_BPS"]), help="Between levels.")
        parser.add_argument(
            "--size-min", default=str(mm["SIZE_MIN"]), help="Order size, in the quote asset."
        )
        parser.add_argument("--size-max", default=str(mm["SIZE_MAX"]))
        parser.add_argument(
            "--refresh", type=float, default=mm["REFRESH"], help="Seconds between cycles."
        )
        parser.add_argument(
            "--trade-interval",
            type=float,
            default=mm["TRADE_INTERVAL"],
            help="Mean seconds between crossing orders per market (0: never).",
        )
        parser.add_argument(
            "--volatility-bps",
            type=float,
            default=mm["VOLATILITY_BPS"],
            help="Random walk: standard deviation per cycle.",
        )
        parser.add_argument("--reference", choices=["walk", "last"], default=mm["REFERENCE"])
        parser.add_argument("--seed", type=int, default=mm["SEED"], help="For reproducible runs.")
        parser.add_argument(
            "--load-rate", type=float, default=0, help="Load mode: orders per second in all."
        )
        parser.add_argument("--load-users", type=int, default=4, help="Load mode: bot users.")
        parser.add_argument(
            "--duration", type=float, default=None, help="Stop after this many seconds."
        )

    def handle(self, *args: object, **options: Any) -> None:
        levels = options["levels"]
        spread, step = _decimal(options["spread_bps"]), _decimal(options["step_bps"])
        size_min, size_max = _decimal(options["size_min"]), _decimal(options["size_max"])
        if levels < 1:
            raise CommandError("--levels must be at least 1")
        if spread < 0 or step <= 0:
            raise CommandError("--spread-bps must be 0 or more and --step-bps more than 0")
        if not 0 < size_min <= size_max:
            raise CommandError("need 0 < --size-min <= --size-max")
        if options["refresh"] <= 0 or options["trade_interval"] < 0:
            raise CommandError("--refresh must be more than 0, --trade-interval 0 or more")
        if options["volatility_bps"] < 0:
            raise CommandError("--volatility-bps must be 0 or more")
        if options["load_rate"] < 0 or options["load_users"] < 1:
            raise CommandError("--load-rate must be 0 or more and --load-users at least 1")
        mm = settings.MARKET_MAKER
        config = BotConfig(
            base_url=options["base_url"].rstrip("/"),
            username=options["username"],
            markets=tuple(s.strip().upper() for s in options["markets"].split(",") if s.strip()),
            ladder=LadderConfig(
                levels=levels,
                spread_bps=spread,
                step_bps=step,
                size_min=size_min,
                size_max=size_max,
                inventory_cap=mm["INVENTORY_CAP"],
                max_skew_bps=mm["MAX_SKEW_BPS"],
            ),
            refresh=options["refresh"],
            trade_interval=options["trade_interval"] or float("inf"),
            volatility_bps=options["volatility_bps"],
            reference=options["reference"],
            reference_prices=mm["REFERENCE_PRICES"],
            funds=mm["FUNDS"],
            seed=options["seed"],
        )
        if options["load_rate"]:
            service: MarketMaker | LoadGenerator = LoadGenerator(
                config,
                rate=options["load_rate"],
                users=options["load_users"],
                duration=options["duration"],
            )
        else:
            service = MarketMaker(config, duration=options["duration"])
        foreign = foreign_accounts(service.usernames())
        if foreign:  # never adopt an account someone else registered first
            raise CommandError(foreign_account_message(foreign))
        collectors: list[MetricSet] = [service.metrics]
        if isinstance(service, MarketMaker):
            collectors.append(service.mm_metrics)
        metrics.serve("marketmaker", collectors=collectors)
        service.run()
