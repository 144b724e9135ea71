"""API keys and Binance-style signed requests: the model and its REST endpoints
(/api/v1/api-keys), the DRF authentication class and the scope permissions that /api/v1
and the Binance-compatible facade use. How to use them: apikeys/authentication.py."""
