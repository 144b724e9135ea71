from accounts.management.commands._balance_move import BalanceMoveCommand
from accounts.services import balance_deposit


class Command(BalanceMoveCommand):
    help = "Credit USERNAME with AMOUNT of ASSET through the engine; prints the new balance."
    move = staticmethod(balance_deposit)
    verb = "deposited"
