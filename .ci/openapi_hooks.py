"""Schemathesis hooks for .ci/openapi.sh: how to send an `application/x-ndjson` body (the
history import, documented as a string of lines)."""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    """A string is sent as it is; a list as one JSON document per line; anything else as one line."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, list):
        return "".join(json.dumps(v) + "\n" for v in value).encode()
    return (json.dumps(value) + "\n").encode()
