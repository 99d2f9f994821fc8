from genlib import chance, odd, weird_string

BASE = ["SELECT id, total FROM orders LIMIT 10", "select * from customers limit 5", "SELECT name FROM products",
        "WITH t AS (SELECT id FROM orders) SELECT id FROM t LIMIT 100", "SELECT a FROM orders JOIN payroll ON 1=1 LIMIT 1",
        "DELETE FROM orders", "drop table customers", "SELECT 'DROP TABLE x' AS s FROM orders LIMIT 1",
        "SELECT 1; DROP TABLE orders", "SELECT id FROM orders LIMIT 1000", "SELECT id FROM orders LIMIT 1001",
        "SELECT id FROM orders LIMIT 99999999999999999999999", "SELECT id FROM orders LIMIT 007",
        "SELECT ssn FROM customers LIMIT 3", "SELECT id FROM analytics.events LIMIT 2",
        "SELECT id -- DROP\nFROM orders LIMIT 4", "SELECT /* UPDATE */ id FROM orders LIMIT 4",
        "  \n\tSELECT\tid\nFROM\torders\nLIMIT 7;  ", "INSERT INTO orders VALUES (1)", "EXPLAIN SELECT 1",
        "SELECT id FROM orders WHERE note = 'it''s; DELETE' LIMIT 9", "SELECT \"ÜBER\" FROM products LIMIT 1",
        "select naïve from products limit 2", "SELECT id FROM orders LIMIT 10 UNION SELECT x FROM users LIMIT 5",
        "pragma table_info(orders)", "SELECT id FROM Orders LIMIT 3", "SELECT id FROM orders LIMIT -1", ";", ""]


def generate(n, rng):
    out = []
    for _ in range(n):
        q = rng.choice(BASE)
        r = rng.random()
        if r < 0.15:
            q = q.lower()
        elif r < 0.25:
            q = q + rng.choice([";", " ; ", ";;", "\n", " -- trailing", f" /* {weird_string(rng)} */"])
        elif r < 0.3:
            q = weird_string(rng)
        x = {"agent": "analyst", "tool": {"name": "sql.query", "args": {"query": q}}}
        if chance(rng, 0.1):
            x["approved"] = rng.choice([True, False, "true", 1, None])
        if chance(rng, 0.04):
            x["tool"]["args"]["query"] = odd(rng)
        out.append(x)
    return out
