"""Partners' callback endpoints (#18): one signed POST (Standard Webhooks), redirects never followed."""
from __future__ import annotations

import urllib.error
import urllib.request
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from ..models import utcnow

TIMEOUT_SECONDS = 10
USER_AGENT = "MKASSA-Callbacks/1"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could lead the request to an address the SSRF guard refused: it is an answer, not a hop.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def send(url: str, secret: str, webhook_id: str, body: str, now: datetime | None = None) -> int:
    """POST one event signed with `secret` ("whsec_…"); returns the partner's HTTP status."""
    sent_at = now or utcnow()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "webhook-id": webhook_id,
               "webhook-timestamp": str(int(sent_at.timestamp())),
               "webhook-signature": Webhook(secret).sign(webhook_id, sent_at, body)}
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers=headers)
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
