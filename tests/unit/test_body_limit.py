"""cyborg.api.body_limit.LimitedInput over a server's input stream: how much it reads."""

import io

import pytest

from cyborg.api import body_limit
from cyborg.common import exception

LIMIT = 1000


class ServerInput(io.BytesIO):
    """A server's ``wsgi.input`` holding ``data``: counts the bytes it was asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed_out = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.handed_out += len(data)
        return data


def _read_all(stream: body_limit.LimitedInput, chunk: int = 64) -> bytes:
    body = b""
    while data := stream.read(chunk):
        body += data
    return body


@pytest.mark.parametrize("chunk", [1, 7, 64, LIMIT, 10 * LIMIT])
def test_a_chunked_body_of_exactly_the_limit_is_read_whole(chunk: int) -> None:
    server = ServerInput(b"a" * LIMIT)
    assert _read_all(body_limit.LimitedInput(server, LIMIT), chunk) == b"a" * LIMIT


@pytest.mark.parametrize("chunk", [1, 7, 64, LIMIT, 10 * LIMIT, -1])
def test_a_bigger_chunked_body_is_refused_having_read_one_byte_past_the_limit(
    chunk: int,
) -> None:
    server = ServerInput(b"a" * 100 * LIMIT)
    stream = body_limit.LimitedInput(server, LIMIT)
    with pytest.raises(exception.RequestBodyTooLarge) as raised:
        _read_all(stream, chunk)
    assert raised.value.code == 413
    assert "1000 bytes" in raised.value.message
    assert server.handed_out == LIMIT + 1


def test_a_read_of_everything_asks_for_one_byte_past_the_limit_only() -> None:
    server = ServerInput(b"a" * 100 * LIMIT)
    with pytest.raises(exception.RequestBodyTooLarge):
        body_limit.LimitedInput(server, LIMIT).read()
    assert server.handed_out == LIMIT + 1


def test_a_content_length_body_is_never_read_past_its_length() -> None:
    server = ServerInput(b"a" * 10 + b"next request")
    stream = body_limit.LimitedInput(server, LIMIT, length=10)
    assert stream.read() == b"a" * 10
    assert stream.read() == b""
    assert server.handed_out == 10


def test_a_body_shorter_than_its_content_length_was_cut_off() -> None:
    stream = body_limit.LimitedInput(ServerInput(b"a" * 10), LIMIT, length=20)
    assert stream.read(10) == b"a" * 10
    with pytest.raises(exception.RequestBodyIncomplete) as raised:
        stream.read(10)
    assert raised.value.code == 400


class Stalled(io.RawIOBase):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, size: int = -1) -> bytes:
        raise self.error


def test_a_body_that_stops_arriving_is_408() -> None:
    stream = body_limit.LimitedInput(Stalled(TimeoutError("timed out")), LIMIT, length=10)
    with pytest.raises(exception.RequestTimeout) as raised:
        stream.read()
    assert raised.value.code == 408


def test_a_body_the_server_cannot_parse_is_400() -> None:
    stream = body_limit.LimitedInput(Stalled(ValueError("bad chunk size")), LIMIT)
    with pytest.raises(exception.RequestBodyIncomplete):
        stream.read()


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("0", 0), ("17", 17)])
def test_content_length(value: str | None, expected: int | None) -> None:
    environ = {} if value is None else {"CONTENT_LENGTH": value}
    assert body_limit.content_length(environ) == expected


@pytest.mark.parametrize("value", ["-1", "ten", "1e3"])
def test_a_content_length_that_is_not_a_size_is_invalid(value: str) -> None:
    with pytest.raises(exception.Invalid, match="Content-Length must be a number"):
        body_limit.content_length({"CONTENT_LENGTH": value})
