"""The same-origin rule and the login CSRF token (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trilho.net.origin import csrf_matches, new_csrf_token, same_origin

HOST = "127.0.0.1:8070"


def test_safe_methods_pass_and_posts_need_a_matching_origin_or_referer():
    assert same_origin("GET", {"host": HOST})
    assert same_origin("POST", {"host": HOST, "origin": f"http://{HOST}"})
    assert same_origin("POST", {"host": HOST, "referer": f"https://{HOST}/ui/rollouts/iris"})
    assert not same_origin("POST", {"host": HOST})  # neither: refused
    assert not same_origin("POST", {"host": HOST, "origin": "null"})
    assert not same_origin("POST", {"host": HOST, "origin": "https://evil.example"})
    assert not same_origin("DELETE", {"host": HOST, "referer": f"http://{HOST}.evil.example/"})
    assert not same_origin("POST", {"host": HOST, "origin": f"javascript://{HOST}"})
    # Origin wins over Referer
    assert not same_origin(
        "POST", {"host": HOST, "origin": "https://evil.example", "referer": f"http://{HOST}/"}
    )


@given(st.text(min_size=1, max_size=40), st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]))
def test_an_origin_naming_another_host_is_always_refused(other, method):
    origin = f"https://{other}"
    if origin.split("//", 1)[1].lower() == HOST:
        return
    assert not same_origin(method, {"host": HOST, "origin": origin})


def test_csrf_tokens_match_only_themselves():
    a, b = new_csrf_token(), new_csrf_token()
    assert a != b and csrf_matches(a, a)
    assert not csrf_matches(a, b) and not csrf_matches(None, a) and not csrf_matches(a, "")
