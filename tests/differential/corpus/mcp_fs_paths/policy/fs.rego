package mcp.filesystem

cfg := data.fs

op := input.params.operation

raw := input.params.path

# Collapse duplicate slashes and trailing "/." noise, keep it a string.
clean := trim_right(regex.replace(raw, `/+`, "/"), "/") if is_string(raw)

segments := [s | some s in split(clean, "/"); s != ""]

depth := count(segments)

parent := concat("/", array.concat([""], array.slice(segments, 0, depth - 1)))

basename := segments[depth - 1]

kind(p) := "absolute" if startswith(p, "/")

kind(p) := "home" if startswith(p, "~")

kind(p) := "relative" if {
	not startswith(p, "/")
	not startswith(p, "~")
}

traversal if {
	some s in segments
	s in {"..", "."}
}

hidden if {
	some s in segments
	startswith(s, ".")
	not s in {".", ".."}
}

under(root) if startswith(concat("", [clean, "/"]), root)

readable if {
	some root in cfg.read_roots
	under(root)
}

writable if under(cfg.write_root)

denied_by contains g if {
	some g in cfg.deny_globs
	glob.match(g, ["/"], clean)
}

reasons contains "path must be a non-empty string" if {
	not is_string(raw)
}

reasons contains "path must be a non-empty string" if raw == ""

reasons contains sprintf("%s paths are not allowed", [kind(raw)]) if kind(raw) != "absolute"

reasons contains "path traversal" if traversal

reasons contains "hidden files are off limits" if hidden

reasons contains sprintf("path is nested too deep (%d > %d)", [depth, cfg.max_depth]) if depth > cfg.max_depth

reasons contains sprintf("denied by pattern %s", [g]) if some g in denied_by

reasons contains "outside the readable roots" if {
	op in {"read", "list"}
	not readable
}

reasons contains "writes are only allowed in the scratch dir" if {
	op in {"write", "delete", "move"}
	not writable
}

reasons contains sprintf("unknown operation %v", [op]) if not op in {"read", "list", "write", "delete", "move"}

reasons contains "every component must be printable ASCII" if {
	op == "write"
	not every_ascii
}

every_ascii if {
	every s in segments {
		regex.match(`^[\x20-\x7e]+$`, s)
	}
}

default allow := false

allow if count(reasons) == 0

default info := {}

info := {
	"normalized": clean,
	"depth": depth,
	"parent": parent,
	"basename": object.get({"b": basename}, "b", null),
	"extension": [e | some b in [basename]; parts := split(b, "."); count(parts) > 1; e := lower(parts[count(parts) - 1])],
}

decision := object.union(info, {"allow": allow, "reasons": reasons})
