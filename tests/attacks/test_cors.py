"""CORS as Mastodon serves it (finding: no CORS headers at all; preflights
got 405, so browser clients could not even register an app)."""
import requests

ORIGIN = "https://elk.example"
EXPOSED = {"link", "x-ratelimit-reset", "x-ratelimit-limit", "x-ratelimit-remaining", "x-request-id"}


def preflight(server, path, method="POST", headers="authorization,content-type"):
    return requests.options(server.url + path, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers}, timeout=10)


def test_preflights_are_answered_on_the_api_and_token_endpoints(server):
    for path, method in [("/api/v1/apps", "POST"), ("/api/v1/timelines/home", "GET"),
                         ("/api/v1/statuses/1", "DELETE"), ("/oauth/token", "POST"), ("/oauth/revoke", "POST")]:
        r = preflight(server, path, method)
        assert r.status_code in (200, 204), (path, r.status_code)
        assert r.headers.get("Access-Control-Allow-Origin") == "*", (path, r.headers)
        assert method in r.headers.get("Access-Control-Allow-Methods", ""), (path, r.headers)
        assert "authorization" in r.headers.get("Access-Control-Allow-Headers", "").lower(), (path, r.headers)
        assert "Access-Control-Allow-Credentials" not in r.headers


def test_api_answers_expose_the_headers_a_page_reads(server):
    for path, status in [("/api/v1/timelines/public", 200), ("/api/v1/timelines/home", 401)]:
        r = requests.get(server.url + path, headers={"Origin": ORIGIN}, timeout=10)
        assert r.status_code == status
        assert r.headers.get("Access-Control-Allow-Origin") == "*"
        exposed = {h.strip().lower() for h in r.headers.get("Access-Control-Expose-Headers", "").split(",")}
        assert EXPOSED <= exposed, exposed


def test_no_cors_on_the_authorize_page_or_internal_routes(server):
    for path in ["/oauth/authorize", "/internal/users/authenticate", "/metrics"]:
        r = preflight(server, path, "GET")
        assert "Access-Control-Allow-Origin" not in r.headers, (path, r.headers)
        assert r.status_code not in (200, 204), (path, r.status_code)
        r = requests.get(server.url + path, headers={"Origin": ORIGIN}, timeout=10)
        assert "Access-Control-Allow-Origin" not in r.headers, (path, r.headers)
