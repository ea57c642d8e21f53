"""Answers no healthy server gives, each mapped to the right exception (MockTransport)."""

from __future__ import annotations

import httpx
import pytest

from submarine.client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvalidResponseError,
    NotFoundError,
    ServerError,
    SubmarineError,
)
from submarine.models import Experiment, ExperimentStatus
from tests.client.conftest import API, experiment, fail, ok

EXP_ID = "experiment-1647192232698-0001"

TOMCAT_401 = (
    b"<!doctype html><html lang='en'><head><title>HTTP Status 401 \xe2\x80\x93 Unauthorized"
    b"</title><style type='text/css'>body {font-family:Tahoma,Arial,sans-serif;}</style>"
    b"</head><body><h1>HTTP Status 401 \xe2\x80\x93 Unauthorized</h1><hr class='line' />"
    b"<p><b>Message</b> The token is not valid.</p></body></html>"
)
NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.21.6</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def test_result_is_parsed_into_a_typed_experiment_keeping_unknown_fields(make):
    payload = {**experiment(EXP_ID), "futureField": {"x": 1}}
    client = make(lambda request: ok(payload))
    exp = client.get_experiment(EXP_ID)
    assert isinstance(exp, Experiment)
    assert exp.status is ExperimentStatus.RUNNING
    assert exp.spec is not None
    assert exp.spec.meta.name == "mnist"
    assert exp.to_dict()["futureField"] == {"x": 1}
    assert exp["experimentId"] == EXP_ID


def test_http_200_with_success_null_is_a_bad_request(make):
    """The real server answers a null spec with HTTP 200, success null."""
    quirk = ok(None, success=None, message="Invalid experiment spec.")
    client = make(lambda request: quirk)
    with pytest.raises(BadRequestError) as caught:
        client.get_experiment(EXP_ID)
    assert caught.value.message == "Invalid experiment spec."
    assert caught.value.status_code == 200
    assert f"GET {API}/{EXP_ID}" in str(caught.value)


def test_success_false_in_a_200_is_mapped_by_its_code(make):
    client = make(lambda request: ok(None, success=False, code=409, message="Duplicated name"))
    with pytest.raises(ConflictError, match="Duplicated name"):
        client.get_experiment(EXP_ID)


def test_success_false_with_an_unexpected_result_shape_is_still_the_servers_error(make):
    client = make(lambda request: ok("oops", success=False, code=500, message="boom"))
    with pytest.raises(ServerError, match="boom"):
        client.get_experiment(EXP_ID)


@pytest.mark.parametrize(
    ("http", "kind"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (409, ConflictError),
        (500, ServerError),
        (422, APIStatusError),
    ],
)
def test_error_envelopes_map_to_the_tree_with_the_servers_message(make, http, kind):
    client = make(lambda request: fail(http, "Not found experiment."), max_retries=0)
    with pytest.raises(kind) as caught:
        client.get_experiment(EXP_ID)
    assert type(caught.value) is kind
    assert caught.value.status_code == http
    assert caught.value.message.startswith("Not found experiment.")
    assert caught.value.body.startswith(b"{")


def test_html_401_page_gives_a_readable_message_without_tags(make):
    client = make(lambda request: httpx.Response(401, content=TOMCAT_401))
    with pytest.raises(AuthenticationError) as caught:
        client.list_experiments()
    message = caught.value.message
    assert "The token is not valid." in message
    assert "HTTP 401 Unauthorized" in message
    assert "<" not in message
    assert "font-family" not in message
    assert "SUBMARINE_TOKEN" in message


def test_html_502_page_is_a_server_error_with_an_excerpt(make):
    client = make(lambda request: httpx.Response(502, content=NGINX_502), max_retries=0)
    with pytest.raises(ServerError) as caught:
        client.get_experiment(EXP_ID)
    assert caught.value.status_code == 502
    assert "502 Bad Gateway" in caught.value.message
    assert "nginx" in caught.value.message
    assert "<" not in caught.value.message


def test_invalid_json_in_a_200_is_an_invalid_response_with_an_excerpt(make):
    client = make(lambda request: httpx.Response(200, content=b"Pong, not JSON"))
    with pytest.raises(InvalidResponseError) as caught:
        client.get_experiment(EXP_ID)
    assert "Pong, not JSON" in str(caught.value)
    assert caught.value.status_code == 200
    assert caught.value.__cause__ is not None


def test_truncated_body_is_an_invalid_response(make):
    body = ok(experiment(EXP_ID)).content
    client = make(lambda request: httpx.Response(200, content=body[: len(body) // 2]))
    with pytest.raises(InvalidResponseError, match="not Submarine's JSON envelope"):
        client.get_experiment(EXP_ID)


def test_an_html_page_with_status_200_is_an_invalid_response(make):
    page = b"<html><body><h1>Welcome to the ingress</h1></body></html>"
    client = make(lambda request: httpx.Response(200, content=page))
    with pytest.raises(InvalidResponseError) as caught:
        client.list_experiments()
    assert "Welcome to the ingress" in str(caught.value)
    assert "<h1>" not in str(caught.value)


def test_a_result_of_the_wrong_shape_names_the_field(make):
    client = make(lambda request: ok({"status": "Running"}))
    with pytest.raises(InvalidResponseError, match=r"result\.experimentId"):
        client.get_experiment(EXP_ID)


def test_success_without_a_result_is_an_invalid_response(make):
    client = make(lambda request: ok(None))
    with pytest.raises(InvalidResponseError, match="no result"):
        client.get_experiment(EXP_ID)


def test_a_broken_connection_is_ours_with_the_httpx_error_as_cause(make):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    client = make(handler, max_retries=0)
    with pytest.raises(APIConnectionError) as caught:
        client.get_experiment(EXP_ID)
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert caught.value.method == "GET"
    assert EXP_ID in caught.value.url
    assert "SUBMARINE_HOST" in str(caught.value)


def test_a_read_timeout_is_an_api_timeout_error(make):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = make(handler, max_retries=0)
    with pytest.raises(APITimeoutError, match="timeout=") as caught:
        client.list_experiments()
    assert isinstance(caught.value, APIConnectionError)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_a_mid_body_transport_error_on_a_stream_does_not_escape_as_httpx(make):
    class Broken(httpx.SyncByteStream, httpx.AsyncByteStream):
        def __iter__(self):
            yield b'{"status": "OK", "res'
            raise httpx.ReadError("connection reset")

        async def __aiter__(self):
            yield b'{"status": "OK", "res'
            raise httpx.ReadError("connection reset")

    client = make(lambda request: httpx.Response(200, stream=Broken()), max_retries=0)
    with pytest.raises(SubmarineError) as caught:
        client.get_experiment(EXP_ID)
    assert isinstance(caught.value, APIConnectionError)
    assert isinstance(caught.value.__cause__, httpx.ReadError)


def test_a_body_that_cannot_be_decoded_is_ours(make):
    def handler(request: httpx.Request) -> httpx.Response:
        gzip = {"Content-Encoding": "gzip"}
        return httpx.Response(200, headers=gzip, stream=httpx.ByteStream(b"not gzip at all"))

    client = make(handler, max_retries=0)
    with pytest.raises(APIConnectionError) as caught:
        client.get_experiment(EXP_ID)
    assert isinstance(caught.value.__cause__, httpx.DecodingError)
