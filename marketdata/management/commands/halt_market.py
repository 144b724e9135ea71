from engine_worker.core.types import MarketStatus
from marketdata.management.commands._market_status import MarketStatusCommand


class Command(MarketStatusCommand):
    help = "Halt a market: no new orders and no cancels until resume_market."
    status = MarketStatus.HALTED
