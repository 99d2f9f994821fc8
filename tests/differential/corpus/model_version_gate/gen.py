from genlib import chance, odd

NAMES = ["planner", "coder", "retriever", "unknown", "", None]
VERSIONS = ["2.3.0", "2.2.9", "2.3.1", "2.10.0", "v2.3.0", "v2.4", "2.4", "2.4.0+build.7", "2.4.0+build.8", "2.4.0",
            "1.10.0", "1.9.99", "1.10.3", "1.11.0-beta.1", "1.11.0-beta.2", "1.11.0-alpha", "1.11.0", "0.9.5-rc.2",
            "0.9.5-rc.10", "0.9.5-rc.1", "0.9.5", "0.9.5-RC.3", "4.0.0", "3.99.99", "10.0.0", "01.2.3", "1.2.3.4",
            "1.2", "1", "", "latest", "v", "V2.3.0", "2.3.0-", "2.3.0-0", "2.3.0-alpha.1+meta", "99999999999999999999.0.0",
            "1.0.0-x.7.z.92", "1.0.0-alpha.beta", " 2.3.0", "2.3.0 "]


def generate(n, rng):
    out = []
    for _ in range(n):
        x = {"plugin": {"name": rng.choice(NAMES), "version": rng.choice(VERSIONS)}}
        if chance(rng, 0.3):
            x["flags"] = {"beta": rng.choice([True, False, "yes", None])}
        if chance(rng, 0.04):
            x["plugin"]["version"] = odd(rng)
        out.append(x)
    return out
