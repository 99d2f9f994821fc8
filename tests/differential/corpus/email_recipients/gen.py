from genlib import chance, odd, weird_string

ADDRS = ["alice@acme.com", "Bob <bob@acme.com>", "carol@eu.acme.com", "dan@acme.co.uk", "erin@partner.io", "frank@globex.com",
         "mallory@evil.com", "ALL@acme.com", "everyone@acme.com", "noreply@acme.com", "x@notacme.com", "y@acme.com.evil.com",
         "\"Last, First\" <first@acme.com>", "no-at-sign", "two@@acme.com", "a@b", "  spaced@acme.com  ", "ünï@ünï.example",
         "sub@dept.ünï.example", "Ünï <ÜNÏ@ACME.COM>", "trailing <t@acme.com> extra", "<>", "", "x@ACME.com"]
SUBJECTS = ["Weekly report", "", "   ", "Re: Re: Re: status", "RE: fwd: Fw: hi", "line1\r\nBcc: attacker@evil.com", "ünïcødé ✓",
            "Fwd: Re: budget", "a" * 200]


def generate(n, rng):
    out = []
    for _ in range(n):
        email = {"to": [rng.choice(ADDRS) for _ in range(rng.choice([0, 1, 1, 2, 3]))], "subject": rng.choice(SUBJECTS)}
        if chance(rng, 0.4):
            email["cc"] = [rng.choice(ADDRS) for _ in range(rng.randint(0, 3))]
        if chance(rng, 0.2):
            email["bcc"] = [rng.choice(ADDRS) for _ in range(rng.randint(1, 5))]
        if chance(rng, 0.04):
            email["to"].append(odd(rng))
        if chance(rng, 0.03):
            email["subject"] = weird_string(rng)
        if chance(rng, 0.02):
            email["cc"] = odd(rng)
        out.append({"email": email})
    return out
