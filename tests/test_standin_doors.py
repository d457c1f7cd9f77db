"""Issue 32 (11): two stand-in defects, fixed as the real servers behave. The Auth stand-in took
redirect_to=http://evil.example\\@127.0.0.1:3000/ for the site (a lenient parser's host) and then
answered 500 at /verify after burning the token; supabase/auth's IsRedirectURLValid refuses a URL
Go's url.Parse cannot parse and falls back to the Site URL. The Storage stand-in answered a
non-multipart upload with a 500 (an assertion); supabase/storage's uploader takes the body itself
as the file, its Content-Type the object's."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from imagen.dev.supabase_standin.auth_config import AuthConfig
from imagen.dev.supabase_standin.auth_redirects import redirect_valid
from tests.test_standin_auth_mail import PASSWORD, SITE, auth, confirming, fragment  # noqa: F401  (a fixture)

HOSTILE = "http://evil.example\\@127.0.0.1:3000/"
CONFIG = AuthConfig(site_url="http://127.0.0.1:3000", additional_redirect_urls=("https://127.0.0.1:3000",))


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("http://127.0.0.1:3000/welcome", True),  # the site
        ("http://127.0.0.1:5173/", True),  # the site's loopback host on another port (RFC 8252)
        ("https://127.0.0.1:3000", True),  # an additional redirect URL
        (HOSTILE, False),  # user info Go's url.Parse refuses
        ("http://evil.example@127.0.0.1:3000/", True),  # well-formed: its host is the site's
        ("https://2130706433/", False),  # a decimal IP
        ("https://2130706433/%zz", False),  # does not parse: never reaches the allow list
        ("\thttps://127.0.0.1:3000/", False),  # a control character
        ("https://evil.example/", False),
        ("http://10.0.0.1/", False),  # an IP other than loopback
        ("", False),
    ],
)
def test_redirect_urls_are_judged_as_supabase_auth_judges_them(url, valid):
    assert redirect_valid(CONFIG, url) is valid


def test_a_hostile_redirect_to_falls_back_to_the_site_url_and_verify_still_signs_in(confirming):  # noqa: F811
    email = "dave@example.com"
    answer = auth(confirming, "POST", "signup", params={"redirect_to": HOSTILE},
                  json={"email": email, "password": PASSWORD})  # fmt: skip
    assert answer.status_code == 200, answer.text
    [mail] = confirming.inbox(email)
    [link] = mail["links"]
    query = dict(parse_qsl(urlsplit(link).query))
    assert query.get("redirect_to", SITE).rstrip("/") == SITE.rstrip("/")  # the mail's link: the site URL
    verified = httpx.get(link.split("?")[0], params=query | {"redirect_to": HOSTILE}, follow_redirects=False)
    assert verified.status_code == 303, verified.text
    assert verified.headers["Location"].startswith(SITE + "#")
    assert fragment(verified.headers["Location"])["type"] == "signup"


def test_a_raw_body_upload_is_stored_as_the_file(standin, user_a):
    path = f"{user_a}/solo/{uuid.uuid4()}.png"
    headers = {"apikey": standin.keys.anon, "Authorization": f"Bearer {standin.keys.service_role}"}
    url = f"{standin.url}/storage/v1/object/imagen/{path}"
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    stored = httpx.post(url, content=png, headers=headers | {"Content-Type": "image/png"})
    assert stored.status_code == 200, stored.text
    assert stored.json()["Key"] == f"imagen/{path}"
    assert httpx.get(url, headers=headers).content == png
    # The body's Content-Type is the object's: one the bucket does not take is refused, not a 500.
    refused = httpx.post(url.replace(".png", "-2.png"), content=b"{}", headers=headers | {"Content-Type": "text/plain"})
    assert refused.status_code == 400 and refused.json()["statusCode"] == "415", refused.text
