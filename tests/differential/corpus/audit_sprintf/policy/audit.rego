package agents.audit

ev := input.event

v := ev.value

tags := {t | some t in object.get(ev, "tags", [])}

integral if {
	is_number(v)
	v == floor(v)
}

# Verbs used the way a careful author would: matching the value's type.
formats["v"] := sprintf("%v", [v])

formats["short"] := sprintf("%v", [[v, null, true, 1.5, {"k": v}]])

formats["set"] := sprintf("%v", [tags])

formats["pct"] := sprintf("100%% of %v", [v])

formats["multi"] := sprintf("%v called %v with %v at %v", [ev.agent, ev.tool, ev.args, ev.ts])

formats["s"] := sprintf("%s|%-8s|%8s", [v, v, v]) if is_string(v)

formats["q"] := sprintf("%q", [v]) if is_string(v)

formats["d"] := sprintf("%d|%5d|%-5d|%05d", [v, v, v, v]) if integral

formats["x"] := sprintf("%x", [v]) if integral

formats["f2"] := sprintf("%.2f|%8.3f|%e", [v, v, v]) if {
	is_number(v)
	not integral
}

formats["t"] := sprintf("%t", [v]) if is_boolean(v)

# Mismatched verbs: Go's fmt writes %!verb(type=value) markers here; engines are expected to differ.
mismatched := {
	"d": sprintf("%d", [v]),
	"s": sprintf("%s", [v]),
	"f2": sprintf("%.2f", [v]),
	"t": sprintf("%t", [v]),
}

line := concat(" | ", [
	sprintf("agent=%v", [ev.agent]),
	sprintf("tool=%v", [ev.tool]),
	sprintf("ok=%v", [object.get(ev, "ok", false)]),
	sprintf("ms=%v", [object.get(ev, "duration_ms", 0)]),
])

default duration_hex := null

duration_hex := format_int(ev.duration_ms, 16) if is_number(ev.duration_ms)

decision := {"line": line, "formats": formats, "mismatched": mismatched, "duration_hex": duration_hex, "tag_count": count(tags)}
