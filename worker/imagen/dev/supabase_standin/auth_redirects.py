"""Where Auth may send a browser after a link (stand-in): supabase/auth's IsRedirectURLValid
(internal/utilities/request.go). A URL with a control character or a space is refused; an http(s)
URL that Go's url.Parse would not parse is refused (among them a backslash or other character
user info may not hold, "http://evil.example\\@127.0.0.1:3000/", and a bad %-escape), so it can
never pass for the site by what a lenient parser reads as its host; the site itself (scheme, host
and port; any port on loopback) is allowed; a decimal IP, a non-loopback IP or an unusual http
host name is refused; else the additional redirect URLs (the stand-in matches them exactly, not
as globs). A refused URL falls back to the site URL."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

from imagen.dev.supabase_standin.auth_config import AuthConfig

USERINFO = re.compile(r"^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$")  # Go's validUserinfo
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
DECIMAL = re.compile(r"^[0-9]+$")
REGULAR_HOSTNAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$")


def go_parse(url: str) -> SplitResult | None:
    """urlsplit, or None where Go's url.Parse answers an error."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number is an error)
    except ValueError:
        return None
    userinfo = parts.netloc.rpartition("@")[0]
    if BAD_ESCAPE.search(url) or (userinfo and not USERINFO.match(userinfo)) or "\\" in parts.netloc:
        return None
    return parts


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def redirect_valid(config: AuthConfig, url: str) -> bool:
    if not url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return False
    site, ref = urlsplit(config.site_url), go_parse(url)
    if ref is None:
        if url.lower().startswith(("http:", "https:")):
            return False
    else:
        host = ref.hostname or ""
        if host == site.hostname and ref.scheme == site.scheme and (ref.port == site.port or is_loopback(host)):
            return True
        if DECIMAL.match(host):
            return False
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            pass
        if ref.scheme.lower() in ("http", "https") and not REGULAR_HOSTNAME.match(host):
            return False
    return url.split("#", 1)[0] in config.additional_redirect_urls
