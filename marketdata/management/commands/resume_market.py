from engine_worker.core.types import MarketStatus
from marketdata.management.commands._market_status import MarketStatusCommand


class Command(MarketStatusCommand):
    help = "Resume trading on a halted (or cancel-only) market."
    status = MarketStatus.TRADING
