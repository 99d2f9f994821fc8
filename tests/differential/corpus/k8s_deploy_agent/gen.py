from genlib import chance, odd

DIGEST = "@sha256:" + "a1" * 32
IMAGES = ["ghcr.io/acme/api", "ghcr.io/acme/api:1.2.3", "ghcr.io/acme/team/api:1.0", "registry.acme.internal/x/y/z:2",
          "docker.io/library/nginx:1.25", "docker.io/library/nginx:latest", "nginx", "nginx:latest", "evil.io/acme/api:1",
          "ghcr.io/acme/debug-shell:1", "registry.acme.internal/debug-tools/x:1", "GHCR.IO/acme/api:1", "", "ghcr.io/acme/",
          "ghcr.io/acme/api:1.0@sha256:short", "localhost:5000/img:1"]


def container(rng, i):
    img = rng.choice(IMAGES)
    if chance(rng, 0.5):
        img += DIGEST
    c = {"name": f"c{i}", "image": img}
    if chance(rng, 0.7):
        c["resources"] = {"limits": {"memory": rng.choice(["512Mi", "", None, 0, "1Gi"])}}
    if chance(rng, 0.15):
        c["securityContext"] = {"privileged": rng.choice([True, False, "true", None])}
    if chance(rng, 0.03):
        c["image"] = odd(rng)
    return c


def generate(n, rng):
    out = []
    for _ in range(n):
        spec = {"containers": [container(rng, i) for i in range(rng.choice([0, 1, 1, 2, 3]))]}
        if chance(rng, 0.3):
            spec["initContainers"] = [container(rng, 10 + i) for i in range(rng.randint(1, 2))]
        if chance(rng, 0.15):
            spec["volumes"] = [{"name": "v", rng.choice(["hostPath", "emptyDir", "configMap"]): rng.choice([{"path": "/"}, {}, None])}]
        labels = {k: "x" for k in rng.sample(["app", "team", "cost-center", "env"], rng.randint(0, 4))}
        m = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels},
             "spec": {"template": {"spec": spec}}}
        if chance(rng, 0.03):
            m["spec"] = odd(rng)
        out.append({"manifest": m, "agent": "deployer"})
    return out
