from accounts.management.commands._balance_move import BalanceMoveCommand
from accounts.services import balance_withdraw


class Command(BalanceMoveCommand):
    help = "Debit AMOUNT of ASSET from USERNAME's available balance; prints the new balance."
    move = staticmethod(balance_withdraw)
    verb = "withdrew"
