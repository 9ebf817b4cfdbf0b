import httpx
import pytest


@pytest.fixture
async def http(gateway_url):
    """A client of the gateway's /api/v1."""
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=30) as client:
        yield client
