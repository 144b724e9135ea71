"""Pure matching core: commands in, events out.

Imports only the standard library (a test enforces it). Everything inside is an
integer: prices in ticks, quantities in lots, balances in each asset's smallest unit.
"""
