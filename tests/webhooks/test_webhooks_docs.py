"""The verification snippets of docs/webhooks.md verify a real delivery."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from routekeeper.core.jobs import JobRunner
from routekeeper.webhooks.signing import new_secret

from .helpers import all_final, cancel_order, create_endpoint, drain, new_order
from .receiver import Receiver

DOC = Path(__file__).parents[2] / "docs" / "webhooks.md"


def test_documented_snippets_verify_a_delivery(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """Each documented verifier accepts what was sent and refuses another secret."""
    namespace: dict[str, Any] = {}
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S):
        exec(block, namespace)
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 1))
    request = receiver.accepted()[0]
    body, headers, secret = request.body, request.headers, endpoint["secret"]
    assert namespace["handle"](body, headers, secret) == request.events()
    assert namespace["verify_standard"](body, headers, secret)
    assert namespace["verify_hypertrack"](body, headers["x-hypertrack-signature"], secret)
    assert not namespace["verify_standard"](body, headers, new_secret())
    assert not namespace["verify_hypertrack"](body, headers["x-hypertrack-signature"],
                                              new_secret())
