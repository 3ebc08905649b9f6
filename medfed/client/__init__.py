"""A typed Python client for MedFed's REST API (httpx).

    from medfed.client import MedFedClient

    with MedFedClient.login("https://medfed.example.org", "dr.grey", "password") as medfed:
        answer = medfed.predict("diabetes", {"glucose": 148, "bmi": 33.6, "age": 50})
        print(answer.probability, answer.risk_band)

Every call the client makes is listed in `ENDPOINTS` with the body fields it sends and the
answer fields it reads; a test checks them against the server's OpenAPI description, so the
client and the API cannot drift apart unnoticed.
"""

from medfed.client.api import ENDPOINTS, Endpoint, MedFedClient
from medfed.client.errors import MedFedAPIError
from medfed.client.types import Campaign, ModelSummary, Prediction, Round

__all__ = [
    "ENDPOINTS",
    "Campaign",
    "Endpoint",
    "MedFedAPIError",
    "MedFedClient",
    "ModelSummary",
    "Prediction",
    "Round",
]
