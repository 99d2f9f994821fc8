from genlib import chance, odd, weird_string

BASES = ["https://example.com/login", "https://shop.example.com/p/1", "https://evil.com/x", "http://a.b/", "javascript:alert(1)",
         " JavaScript:alert(1)", "https://example.com", "/relative/path", "", "https://ünï.example.com/ß"]
PARAMS = ["utm_source=news", "utm_medium=email&utm_campaign=x", "fbclid=abc", "gclid=1", "mc_eid=9", "id=42", "q=hello+world",
          "q=hello%20world", "q=%E2%9C%93", "next=%2Fhome", "next=https%3A%2F%2Fevil.com", "next=//evil.com/a",
          "redirect=https://sub.example.com/ok", "return_to=HTTPS://EVIL.COM", "url=%2F%2Fevil.com", "a=1&a=2&a=3",
          "empty=", "flag", "=v", "sp=a%20b+c", "uni=ünï", "k%20ey=v", "amp=a%26b", "utm_=1", "plus=a+b%2Bc"]
BAD_PARAMS = ["x=%zz", "x=%", "semi=a;b", "%=1"]


def generate(n, rng):
    out = []
    for _ in range(n):
        q = "&".join(rng.choice(BAD_PARAMS if chance(rng, 0.02) else PARAMS) for _ in range(rng.choice([0, 1, 2, 3, 5])))
        url = rng.choice(BASES) + (("?" + q) if q or chance(rng, 0.1) else "")
        if chance(rng, 0.05):
            url += "?second?mark"
        nav = {"url": url}
        if chance(rng, 0.5):
            nav["search"] = rng.choice(["rust async", "a&b=c", "ünï code", "100%", "", "+plus+", "?/#", weird_string(rng)])
        if chance(rng, 0.04):
            nav["url"] = odd(rng)
        if chance(rng, 0.02):
            nav["search"] = odd(rng)
        out.append({"navigate": nav})
    return out
