from api_helpers import Api


def test_smoke(api: Api) -> None:
    r = api.get("/v1/subjects")
    assert r.status_code == 200, r.text
