"""Every page's Content-Security-Policy: it reaches this site alone, and runs only the inline scripts it was given.

A page gets a fresh nonce per request (``web.templating.new_nonce``); its renderer puts it on its own inline
scripts. A response that set its own policy (the phone app's, stricter) keeps it.
"""

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.templating import new_nonce, policy

NOT_PAGES = ("/v1/", "/static/", "/app/static/", "/app/lib/", "/open311/")  # no page is served under these


class PagePolicy:
    """ASGI middleware: a Content-Security-Policy on every HTML answer."""

    def __init__(self, app: ASGIApp, tile_url: str | None = None) -> None:
        self.app = app
        parts = urlsplit(tile_url or "")
        self.images = (f"{parts.scheme}://{parts.netloc}",) if parts.scheme and parts.netloc else ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer through the app, adding the policy to the head of an HTML answer."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or scope["path"].startswith(NOT_PAGES):
            await self.app(scope, receive, send)  # the API's posts and reads pass untouched: no page there
            return
        page_nonce = new_nonce()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html") and "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = policy(page_nonce, self.images)
            await send(message)

        await self.app(scope, receive, sending)
