"""A local mail catcher, the role Inbucket/Mailpit plays in the Supabase CLI's local stack: an SMTP
server (aiosmtpd) that keeps every message it is given, and a tiny inbox API over HTTP to read them:
GET /api/messages[?to=<address>] answers [{to, from, subject, html, links}], oldest first; GET /
lists the same as a page. Runs on the caller's event loop (the Supabase stand-in's)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import re

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

HREF = re.compile(r'href="([^"]+)"')


class MailCatcher:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.smtp_port = 0
        self.http_port = 0
        self._smtp: asyncio.Server | None = None
        self._runner: web.AppRunner | None = None

    @property
    def inbox_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(("html", "plain"))
        content = body.get_content() if body is not None else ""
        for to in envelope.rcpt_tos:
            self.messages.append({
                "to": to.lower(),
                "from": envelope.mail_from,
                "subject": str(message["Subject"] or ""),
                "html": content,
                "links": [html.unescape(link) for link in HREF.findall(content)],
            })  # fmt: skip
        return "250 Message accepted for delivery"

    def inbox(self, to: str | None = None) -> list[dict]:
        return [m for m in self.messages if to is None or m["to"] == to.lower()]

    async def _api(self, request: web.Request) -> web.Response:
        return web.json_response(self.inbox(request.query.get("to")))

    async def _page(self, _request: web.Request) -> web.Response:
        rows = "".join(
            f"<li><b>{html.escape(m['subject'])}</b> to {html.escape(m['to'])}<div>{m['html']}</div></li>"
            for m in reversed(self.messages)
        )
        page = f"<!doctype html><title>Inbox</title><h1>Inbox ({len(self.messages)})</h1><ul>{rows}</ul>"
        return web.Response(text=page, content_type="text/html")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._smtp = await loop.create_server(lambda: SMTP(self, hostname="mail-catcher"), "127.0.0.1", 0)
        self.smtp_port = self._smtp.sockets[0].getsockname()[1]
        app = web.Application()
        app.add_routes([web.get("/api/messages", self._api), web.get("/", self._page)])
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        if self._runner is not None:
            await self._runner.cleanup()
