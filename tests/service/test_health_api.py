"""Operations: liveness, readiness, Prometheus metrics, and the OpenAPI document."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from api_helpers import NO_SUCH_ID, UUID_RE, Api, Photos, TestClient, running_app
from prometheus_client.parser import text_string_to_metric_families

from maskgate.config import Settings
from maskgate.errors import ModelError
from maskgate.models.paths import MANIFEST_NAME
from maskgate.pipeline.pipeline import FacePipeline

IMAGE_OPERATIONS = [
    ("/v1/verify", "post"),
    ("/v1/identify", "post"),
    ("/v1/subjects/{subject_id}/faces", "post"),
    ("/v1/faces/analyze", "post"),
]


def samples(client: TestClient, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of the metric ``name`` (its full sample name) on /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return [
        (dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    ]


def value(client: TestClient, name: str, **labels: str) -> float:
    found = [v for sample_labels, v in samples(client, name) if sample_labels == labels]
    return found[0] if found else 0.0


def test_healthz_needs_nothing(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_models_and_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"models": True, "database": True}}


def test_a_missing_calibration_stops_the_start(
    tmp_path: Path, db_url: str, pipeline: FacePipeline, service_settings: Settings
) -> None:
    """Decisions need the models' calibration: without it the app refuses to start (as it
    does without its models), saying why, rather than deciding on a guessed threshold."""
    shutil.copy(service_settings.models.dir / MANIFEST_NAME, tmp_path / MANIFEST_NAME)
    settings = service_settings.model_copy(deep=True)
    settings.models.dir = tmp_path
    with pytest.raises(ModelError, match="calibration.json missing"):
        with running_app(settings, db_url, pipeline):
            pytest.fail("the app started")


def test_a_calibration_made_for_other_settings_stops_the_start(
    db_url: str, pipeline: FacePipeline, service_settings: Settings
) -> None:
    settings = service_settings.model_copy(deep=True)
    settings.pipeline.mask_threshold = 0.6  # the calibration was made with 0.1
    with pytest.raises(ModelError, match="mask threshold"):
        with running_app(settings, db_url, pipeline):
            pytest.fail("the app started")


def test_http_requests_are_counted_by_route_template(api: Api, client: TestClient) -> None:
    template = "/v1/subjects/{subject_id}"
    labels = {"method": "GET", "route": template, "status": "404"}
    before = value(client, "maskgate_http_requests_total", **labels)
    assert api.get(f"/v1/subjects/{NO_SUCH_ID}").status_code == 404
    subject = api.create_subject()
    assert api.get(f"/v1/subjects/{subject['id']}").status_code == 200
    api.get("/v1/no-such-route")

    after = value(client, "maskgate_http_requests_total", **labels)
    assert after == before + 1
    assert value(client, "maskgate_http_requests_total", **{**labels, "status": "200"}) >= 1
    routes = {labels["route"] for labels, _ in samples(client, "maskgate_http_requests_total")}
    assert template in routes
    assert "<unmatched>" in routes
    assert not [route for route in routes if UUID_RE.search(route)]
    assert not [route for route in routes if "no-such-route" in route]


def test_decisions_are_counted(api: Api, client: TestClient, photos: Photos) -> None:
    name = "maskgate_decisions_total"
    match = {"operation": "verify", "case": "full", "decision": "match"}
    no_match = {**match, "decision": "no_match"}
    identify = {**match, "operation": "identify"}
    before = [value(client, name, **labels) for labels in (match, no_match, identify)]

    assert api.verify(photos.flipped, reference=photos.face).json()["match"] is True
    assert api.verify(photos.cameraman, reference=photos.face).json()["match"] is False
    api.enrolled(photos.face)
    assert api.identify(photos.flipped).json()["candidates"][0]["match"] is True

    after = [value(client, name, **labels) for labels in (match, no_match, identify)]
    assert after == [b + 1 for b in before]


def test_metrics_expose_the_service_series(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    for expected in (
        "maskgate_http_requests",
        "maskgate_http_request_duration_seconds",
        "maskgate_decisions",
        "maskgate_models_loaded",
        "maskgate_build_info",
    ):
        assert expected in names
    assert value(client, "maskgate_models_loaded") >= 1


@pytest.fixture
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def v1_operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in openapi["paths"].items()
        if path.startswith("/v1")
        for method, operation in item.items()
    ]


def test_openapi_lists_every_operation(openapi: dict[str, Any]) -> None:
    operations = {(path, method) for path, method, _ in v1_operations(openapi)}
    assert {
        ("/v1/subjects", "post"),
        ("/v1/subjects", "get"),
        ("/v1/subjects/{subject_id}", "get"),
        ("/v1/subjects/{subject_id}", "patch"),
        ("/v1/subjects/{subject_id}", "delete"),
        ("/v1/subjects/{subject_id}/faces", "get"),
        ("/v1/subjects/{subject_id}/faces/{face_id}", "delete"),
        *IMAGE_OPERATIONS,
    } <= operations
    assert "/healthz" in openapi["paths"]
    assert "/readyz" in openapi["paths"]
    assert "/metrics" not in openapi["paths"]


def test_every_v1_operation_has_a_summary(openapi: dict[str, Any]) -> None:
    missing = [(p, m) for p, m, op in v1_operations(openapi) if not op.get("summary")]
    assert missing == []


@pytest.mark.parametrize("status", ["401", "422"])
def test_every_v1_operation_documents_its_problems(openapi: dict[str, Any], status: str) -> None:
    for path, method, operation in v1_operations(openapi):
        response = operation["responses"].get(status)
        assert response is not None, (path, method, status)
        assert list(response["content"]) == ["application/problem+json"], (path, method)
        schema = response["content"]["application/problem+json"]["schema"]
        assert {"type", "title", "status", "detail", "code"} <= set(schema["properties"])
        assert response["description"], (path, method)


def test_error_codes_are_enumerated(openapi: dict[str, Any]) -> None:
    verify = openapi["paths"]["/v1/verify"]["post"]["responses"]
    codes_422 = verify["422"]["content"]["application/problem+json"]["schema"]["properties"]
    assert {"no_face", "validation_error", "invalid_request"} <= set(codes_422["code"]["enum"])
    codes_409 = verify["409"]["content"]["application/problem+json"]["schema"]["properties"]
    assert {"subject_has_no_faces", "template_unavailable"} <= set(codes_409["code"]["enum"])
    assert "insufficient_scope" in str(verify["403"])
    for path in ("/v1/verify", "/v1/identify"):
        responses = openapi["paths"][path]["post"]["responses"]
        codes = responses["422"]["content"]["application/problem+json"]["schema"]["properties"]
        assert "operating_point_conflict" in codes["code"]["enum"], path


@pytest.mark.parametrize(
    ("path", "result", "fields"),
    [
        ("/v1/verify", "VerifyResult", {"score", "match", "threshold", "case", "estimated_fmr"}),
        (
            "/v1/identify",
            "IdentifyResult",
            {"fmr", "fmr_per_comparison", "comparisons", "thresholds", "decision_rule"},
        ),
    ],
)
def test_the_operating_point_is_documented(
    openapi: dict[str, Any], path: str, result: str, fields: set[str]
) -> None:
    content = openapi["paths"][path]["post"]["requestBody"]["content"]
    fmr = content["multipart/form-data"]["schema"]["properties"]["fmr"]
    assert (fmr["exclusiveMinimum"], fmr["maximum"]) == (0, 1)
    assert "threshold" in fmr["description"]
    assert "fmr" in _json_properties(openapi, content["application/json"]["schema"])
    schema = openapi["components"]["schemas"][result]
    assert fields <= set(schema["properties"])
    assert all(schema["properties"][f].get("description") for f in fields - {"score", "match"})
    (example,) = schema["examples"]
    assert fields <= set(example)


@pytest.mark.parametrize(("path", "method"), IMAGE_OPERATIONS)
def test_image_bodies_document_both_forms(openapi: dict[str, Any], path: str, method: str) -> None:
    body = openapi["paths"][path][method]["requestBody"]
    assert body["required"] is True
    content = body["content"]
    assert {"multipart/form-data", "application/json"} <= set(content)
    multipart = content["multipart/form-data"]["schema"]
    assert any(
        p.get("format") == "binary" or p.get("items", {}).get("format") == "binary"
        for p in multipart["properties"].values()
    )


def _json_properties(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    properties: dict[str, Any] = schema["properties"]
    return properties


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/verify", "post"),
        ("/v1/identify", "post"),
        ("/v1/subjects/{subject_id}/faces", "post"),
        ("/v1/faces/analyze", "post"),
    ],
)
def test_the_json_form_documents_every_multipart_field(
    openapi: dict[str, Any], path: str, method: str
) -> None:
    content = openapi["paths"][path][method]["requestBody"]["content"]
    multipart = set(content["multipart/form-data"]["schema"]["properties"])
    json_fields = set(_json_properties(openapi, content["application/json"]["schema"]))
    assert multipart <= json_fields


def test_json_body_schemas_resolve(openapi: dict[str, Any]) -> None:
    """Every ``$ref`` in the document points at a schema that exists."""
    schemas = openapi["components"]["schemas"]
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(openapi)
    prefix = "#/components/schemas/"
    assert refs
    broken = sorted({r for r in refs if r.removeprefix(prefix) not in schemas})
    assert broken == []


def test_docs_are_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "openapi.json" in response.text
