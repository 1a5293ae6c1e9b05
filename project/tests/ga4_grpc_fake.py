"""The GA4 fake served over gRPC, for the Data API client's default transport.

:class:`FakeGA4Grpc` puts a gRPC server on 127.0.0.1 in front of a
:class:`~project.tests.ga4_fake.FakeGA4` (started or not), so both transports
serve the same data, faults and token budget from one object: a download over
gRPC can be compared byte for byte with the same download over REST.

* ``google.analytics.data.v1beta.BetaAnalyticsData`` ``RunReport``,
  ``GetMetadata`` and ``CheckCompatibility`` (``grpc.method_handlers_generic_handler``):
  each request is turned into the JSON body the REST fake takes
  (``json_format.MessageToDict``) and logged in ``fake.requests`` like a REST
  call; the JSON answer is parsed back into the official response message.
* The REST fake's errors become gRPC statuses of the same name (429 ->
  ``RESOURCE_EXHAUSTED``, 503 -> ``UNAVAILABLE``, 403 -> ``PERMISSION_DENIED``).
* Authentication as over REST: the ``authorization`` metadata must carry a
  self-signed JWT of a known service account (signature, issuer, expiry).
  The channel uses gRPC's local credentials (plaintext on loopback, but a
  "secure" channel, so the client's call credentials are attached).
* Every call's invocation metadata is kept in :attr:`FakeGA4Grpc.metadata`
  (the client's ``x-goog-request-params`` routing header, for instance).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent import futures
from typing import Any

from .ga4_fake import FakeGA4, _ApiError

__all__ = ["SERVICE", "FakeGA4Grpc"]

SERVICE = "google.analytics.data.v1beta.BetaAnalyticsData"
_CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


class FakeGA4Grpc:
    """A gRPC front for ``fake``. Use as a context manager; :meth:`client` builds
    an official ``BetaAnalyticsDataClient`` on the gRPC transport that talks to it."""

    def __init__(self, fake: FakeGA4) -> None:
        self.fake = fake
        #: ``(method, {key: value})`` of the invocation metadata of every call, in order
        #: (values of a key sent more than once joined by ``", "``).
        self.metadata: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self.port = 0

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeGA4Grpc:
        import grpc
        from google.analytics.data_v1beta import types

        def handler(method: str, request_type: Any, response_type: Any, call: Any) -> Any:
            def behaviour(request: Any, context: Any) -> Any:
                return self._serve(method, request, context, response_type, call)

            return grpc.unary_unary_rpc_method_handler(
                behaviour,
                request_deserializer=request_type.pb().FromString,
                response_serializer=lambda message: message.SerializeToString(),
            )

        fake = self.fake
        handlers = {
            "RunReport": handler(
                "RunReport", types.RunReportRequest, types.RunReportResponse,
                lambda body: fake.run_report(_property_id(body["property"]), body),
            ),
            "GetMetadata": handler(
                "GetMetadata", types.GetMetadataRequest, types.Metadata,
                lambda body: fake.metadata(_property_id(body["name"])),
            ),
            "CheckCompatibility": handler(
                "CheckCompatibility", types.CheckCompatibilityRequest,
                types.CheckCompatibilityResponse,
                lambda body: fake.check_compatibility(_property_id(body["property"]), body),
            ),
        }
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_CHANNEL_OPTIONS)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        credentials = grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        self.port = server.add_secure_port("127.0.0.1:0", credentials)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(0)
            self._server = None

    def __enter__(self) -> FakeGA4Grpc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, key_info: Mapping[str, Any]) -> Any:
        """A ``BetaAnalyticsDataClient`` (gRPC transport) signing self-signed JWTs with ``key_info``.

        The production client builds a TLS channel to ``host:443``; here the
        transport gets a channel to the fake with gRPC local credentials and
        the same service-account call credentials.
        """
        import google.auth.transport.grpc
        import google.auth.transport.requests
        import grpc
        from google.analytics.data_v1beta import BetaAnalyticsDataClient
        from google.analytics.data_v1beta.services.beta_analytics_data.transports import (
            BetaAnalyticsDataGrpcTransport,
        )

        from project.ga4.credentials import load_service_account

        credentials = load_service_account(key_info).credentials().with_always_use_jwt_access(True)
        channel = google.auth.transport.grpc.secure_authorized_channel(
            credentials,
            google.auth.transport.requests.Request(),
            self.target,
            ssl_credentials=grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP),
            options=_CHANNEL_OPTIONS,
        )
        return BetaAnalyticsDataClient(transport=BetaAnalyticsDataGrpcTransport(channel=channel))

    def _serve(self, method: str, request: Any, context: Any, response_type: Any, call: Any) -> Any:
        import grpc
        from google.protobuf import json_format

        metadata: dict[str, str] = {}
        for key, value in context.invocation_metadata():
            if isinstance(value, str):  # a key sent twice: values joined by ", "
                metadata[key] = f"{metadata[key]}, {value}" if key in metadata else value
        body = json_format.MessageToDict(request)
        fake = self.fake
        with self._lock:
            self.metadata.append((method, metadata))
        with fake.lock:  # logged like the REST call it stands for
            path = f"/v1beta/{body.get('property') or body.get('name')}"
            fake.requests.append(("POST", f"{path}:{method[0].lower()}{method[1:]}", body))
        try:
            fake._authenticate(metadata.get("authorization"))
            answer = call(body)
        except _ApiError as exc:
            context.abort(getattr(grpc.StatusCode, exc.status, grpc.StatusCode.UNKNOWN), exc.message)
        return json_format.ParseDict(answer, response_type.pb()(), ignore_unknown_fields=False)


def _property_id(resource: str) -> str:
    """``"123"`` from ``properties/123`` or ``properties/123/metadata``."""
    return resource.split("/")[1] if resource.startswith("properties/") else resource
