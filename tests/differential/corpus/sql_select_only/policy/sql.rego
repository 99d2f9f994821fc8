package agents.sql

q := input.tool.args.query

# Drop string literals and comments, then normalise whitespace and case.
no_strings := regex.replace(regex.replace(q, `'(?:[^']|'')*'`, "''"), `--[^\n]*|/\*[\s\S]*?\*/`, " ")

norm := upper(trim_space(regex.replace(no_strings, `\s+`, " ")))

statements := [s | some s in regex.split(`\s*;\s*`, norm); s != ""]

first_word := lower(regex.find_n(`^[A-Z]+`, statements[0], 1)[0])

forbidden := {"INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "CREATE", "TRUNCATE", "GRANT", "REVOKE", "MERGE", "CALL", "COPY", "ATTACH", "PRAGMA"}

found_forbidden contains w if {
	some w in regex.find_n(`\b[A-Z_]+\b`, norm, -1)
	w in forbidden
}

tables contains lower(t) if {
	some m in regex.find_all_string_submatch_n(`\b(?:FROM|JOIN)\s+([A-Z_][A-Z0-9_.]*)`, norm, -1)
	t := m[1]
}

limit_clause := regex.find_all_string_submatch_n(`\bLIMIT\s+([0-9]+)`, norm, -1)

limit := to_number(limit_clause[count(limit_clause) - 1][1])

reasons contains "query must be a non-empty string" if not is_string(q)

reasons contains "query must be a non-empty string" if norm == ""

reasons contains "only one statement is allowed" if count(statements) > 1

reasons contains sprintf("statement starts with %s; only SELECT/WITH are allowed", [upper(first_word)]) if {
	not first_word in {"select", "with"}
}

reasons contains sprintf("forbidden keyword %s", [w]) if some w in found_forbidden

reasons contains sprintf("table %s is not allowed", [t]) if {
	some t in tables
	not t in data.sql.tables
}

reasons contains "a LIMIT clause is required" if {
	is_string(q)
	count(limit_clause) == 0
}

reasons contains sprintf("LIMIT %v exceeds %v", [limit, data.sql.max_limit]) if limit > data.sql.max_limit

reasons contains "SELECT * is not allowed" if contains(norm, "SELECT *")

reasons contains "queries touching pii columns need approval" if {
	indexof(lower(norm), "ssn") >= 0
	not input.approved == true
}

default allow := false

allow if count(reasons) == 0

default preview := ""

preview := strings.replace_n({"\n": " ", "\t": " ", "\"": "'"}, substring(q, 0, 60))

decision := {
	"allow": allow,
	"reasons": reasons,
	"tables": tables,
	"statement_count": object.get({"n": count(statements)}, "n", 0),
	"preview": preview,
}
