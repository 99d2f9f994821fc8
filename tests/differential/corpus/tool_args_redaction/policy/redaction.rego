package agents.redaction

patterns := {
	"aws_key": `AKIA[0-9A-Z]{16}`,
	"bearer": `(?i)bearer\s+[a-z0-9._~+/-]+=*`,
	"email": `[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`,
	"card": `\b(?:\d[ -]?){13,16}\b`,
	"openai": `sk-[A-Za-z0-9]{20,}`,
}

args := object.get(input, ["call", "args"], {})

# Every string leaf of the arguments, with its path.
leaves contains [path, value] if {
	walk(args, [path, value])
	is_string(value)
}

findings contains {"path": concat(".", [sprintf("%v", [p]) | some p in path]), "kind": kind} if {
	some [path, value] in leaves
	some kind, pattern in patterns
	regex.match(pattern, value)
}

redact(s) := r if {
	r1 := regex.replace(s, patterns.aws_key, "[AWS_KEY]")
	r2 := regex.replace(r1, patterns.openai, "[API_KEY]")
	r3 := regex.replace(r2, patterns.bearer, "Bearer [TOKEN]")
	r4 := regex.replace(r3, patterns.email, "[EMAIL]")
	r := regex.replace(r4, patterns.card, "[CARD]")
}

# Redacted copy of the top-level string arguments; other values kept.
redacted_args[k] := redact(v) if {
	some k, v in args
	is_string(v)
}

redacted_args[k] := v if {
	some k, v in args
	not is_string(v)
	not k in sensitive_keys
}

sensitive_keys := {"password", "secret", "api_key", "token"}

first_emails := regex.find_n(patterns.email, json.marshal(args), 3)

default allow := true

allow := false if {
	some f in findings
	f.kind in {"aws_key", "openai"}
}

decision := {
	"allow": allow,
	"findings": findings,
	"redacted": object.remove(redacted_args, sensitive_keys),
	"emails_seen": first_emails,
	"log_line": strings.replace_n({"\n": "\\n", "\t": " "}, json.marshal(object.remove(redacted_args, sensitive_keys))),
	"arg_count": count(args),
}
