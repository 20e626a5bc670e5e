"""A wrong method on a known path answers 405 with `Allow`, in Mastodon's
error shape (finding: a bare 405 with an empty body)."""
import requests


def test_a_wrong_method_is_a_json_405_with_allow(server):
    for method, path, allowed in [("DELETE", "/api/v1/timelines/home", "GET"),
                                  ("PUT", "/oauth/token", "POST"),
                                  ("PATCH", "/api/v1/apps", "POST")]:
        r = requests.request(method, server.url + path, timeout=10)
        assert r.status_code == 405, (method, path, r.status_code)
        assert allowed in r.headers.get("Allow", ""), (method, path, r.headers)
        assert r.json() == {"error": "Method not allowed"}, r.text
