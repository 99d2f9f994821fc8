from genlib import chance, odd, weird_string

HOSTS = ["api.openai.com", "API.OpenAI.com", "raw.github.com", "github.com", "a.b.github.com", "storage.googleapis.com",
         "x.y.z.googleapis.com", "googleapis.com", "hooks.slack.com", "bucket.s3.eu-west-1.amazonaws.com",
         "docs.rust.io", "docs.a.b.io", "evil.ngrok.io", "pastebin.com", "abc.onion", "x.y.onion", "203.0.113.7",
         "203.0.114.7", "198.51.100.127", "198.51.100.128", "10.1.2.3", "127.0.0.1", "169.254.169.254",
         "192.168.1.1", "[2001:db8::1]", "[::1]", "[fc00::5]", "[2001:db9::1]", "localhost", "", "a..b.com",
         "münchen.de", "xn--mnchen-3ya.de", "api.openai.com.", ".github.com", "api.openai.com.evil.com",
         "0x7f.0.0.1", "2130706433", "ＡＰＩ.openai.com", "*.github.com"]
SCHEMES = ["https", "https", "https", "http", "HTTPS", "ftp", "file", "gopher", "", "h2c"]
PORTS = ["", "", "", ":443", ":8443", ":80", ":0", ":65536", ":99999999999999999999", ":08443", ":"]
PATHS = ["", "/", "/v1/chat", "/a/../../etc/passwd", "/%2e%2e/x", "/ünï", "/search?q=1&x=2", "?q=a", "#frag", "/a b"]


def generate(n, rng):
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.85:
            user = rng.choice(["", "", "", "user:pass@", "@", "tok@"])
            url = f"{rng.choice(SCHEMES)}://{user}{rng.choice(HOSTS)}{rng.choice(PORTS)}{rng.choice(PATHS)}"
        elif r < 0.93:
            url = rng.choice(["not a url", "https:/x.com", "//api.openai.com", "https://", "https://?", "mailto:a@b.c",
                              weird_string(rng), "https://api.openai.com\n.evil.com"])
        else:
            url = odd(rng)
        x = {"agent": {"id": "researcher"}, "tool": {"name": "http.fetch", "args": {"url": url}}}
        if chance(rng, 0.03):
            x["tool"]["args"] = odd(rng)
        if chance(rng, 0.02):
            del x["tool"]
        out.append(x)
    return out
