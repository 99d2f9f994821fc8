from genlib import chance, odd

MEM = ["256Mi", "512MiB", "512MB", "513MiB", "1Gi", "1G", "1GB", "1gb", "1.5Gi", "8Gi", "8GiB", "8.000001Gi", "0",
       "64Mi", "63.9Mi", "65536Ki", "1000000000", "1TiB", "2Ti", "0.5", "999999999999999999999Gi", "1E", "1EiB",
       "12345678901234567890", "7ki", "7KI", "100G", "10TB", "10.1TB", "1e3"]
BAD_MEM = ["  1Gi", "1 Gi", "-1Gi", "K", "", "1.2.3", "Mi", "0x10", "∞"]
CPU = ["100m", "500m", "501m", "0.5", "1", "4", "4.0", "4000m", "4001m", "64", "65", "0.25k", "1k", "2Ki", "1M",
       "1e2", "-1", "1.5m", "0.0001", "16", "1E", "0.1", "100000000000000000000000"]
BAD_CPU = ["", "m", "3u", "1n", "1 m", "abc"]


def pick(rng, good, bad):
    return rng.choice(bad) if chance(rng, 0.06) else rng.choice(good)


def generate(n, rng):
    out = []
    for _ in range(n):
        res = {"memory": pick(rng, MEM, BAD_MEM), "disk": pick(rng, MEM, BAD_MEM), "cpu": pick(rng, CPU, BAD_CPU)}
        if chance(rng, 0.3):
            res["gpus"] = rng.choice([0, 1, 2, 8, 9, -1, 0.5, "1", None])
        if chance(rng, 0.04):
            res[rng.choice(["memory", "disk", "cpu"])] = odd(rng)
        x = {"plan": rng.choice(["free", "pro", "enterprise", "pro", "gold", None]), "resources": res}
        out.append(x)
    return out
