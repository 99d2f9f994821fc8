from genlib import chance, odd, weird_string

PATHS = ["/workspace/src/main.rs", "/workspace/", "/workspace", "/workspacex/a", "/workspace/secrets/db.txt",
         "/workspace/.git/config", "/workspace/app/.env", "/workspace/certs/server.PEM", "/workspace/certs/server.pem",
         "/home/u/.ssh/id_rsa.pub", "/data/shared/team/private/x.csv", "/data/shared/team/sub/private/x.csv",
         "/data/shared/readme.md", "/tmp/agent/out.json", "/tmp/agent/../../etc/shadow", "/tmp/agent/./x",
         "/tmp/agentevil/x", "//workspace//src///lib.rs", "/workspace/src/", "relative/path.txt", "~/notes.md",
         "/tmp/agent/ünïcødé/文件.txt", "/tmp/agent/emoji🚀.txt", "/tmp/agent/a\tb", "/", "", "/etc/passwd",
         "/workspace/a/b/c/d/e/f/g/h/i.txt", "/tmp/agent/a/b/c/d/e/f/g", "/tmp/agent/archive.tar.gz",
         "/tmp/agent/.hidden", "/tmp/agent/...", "C:\\Windows\\system32", "/workspace/%2e%2e/secret"]
OPS = ["read", "read", "list", "write", "write", "delete", "move", "exec", "", None, "READ", 3]


def generate(n, rng):
    out = []
    for _ in range(n):
        p = rng.choice(PATHS)
        if chance(rng, 0.1):
            p = "/tmp/agent/" + weird_string(rng)
        if chance(rng, 0.05):
            p = "/workspace/" + "/".join(f"d{i}" for i in range(rng.randint(1, 30)))
        x = {"method": "tools/call", "params": {"operation": rng.choice(OPS), "path": p}}
        if chance(rng, 0.05):
            x["params"]["path"] = odd(rng)
        if chance(rng, 0.02):
            del x["params"]["path"]
        out.append(x)
    return out
