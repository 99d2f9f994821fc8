package agents.network

segs := data.segments[input.env]

rule := input.rule

# as_cidr has three bodies: already a CIDR, a bare IPv4 address, a bare IPv6 address.
as_cidr(c) := c if contains(c, "/")

as_cidr(c) := concat("", [c, "/32"]) if {
	not contains(c, "/")
	not contains(c, ":")
}

as_cidr(c) := concat("", [c, "/128"]) if {
	not contains(c, "/")
	contains(c, ":")
}

valid(c) if {
	is_string(c)
	net.cidr_is_valid(as_cidr(c))
}

cidrs := [c | some c in rule.cidrs]

invalid contains c if {
	some c in cidrs
	not valid(c)
}

inside(c) if {
	some s in segs
	net.cidr_contains(s, c)
}

outside contains c if {
	some c in cidrs
	valid(c)
	not inside(c)
}

touches_forbidden contains [c, f] if {
	some c in cidrs
	valid(c)
	some f in data.segments.forbidden
	net.cidr_intersects(as_cidr(c), f)
}

merged := net.cidr_merge([as_cidr(c) | some c in cidrs; valid(c)])

small_expansion := {c: net.cidr_expand(c) |
	some c in cidrs
	valid(c)
	regex.match(`^[0-9.]+/(3[0-2]|29)$`, c)
}

host_matches := net.cidr_contains_matches(segs, [c | some c in cidrs; valid(c)])

reasons contains sprintf("unknown environment %v", [input.env]) if not segs

reasons contains sprintf("%v is not a valid CIDR or IP", [c]) if some c in invalid

reasons contains sprintf("%s is outside the %s segments", [c, input.env]) if some c in outside

reasons contains sprintf("%s overlaps forbidden range %s", [c, f]) if some [c, f] in touches_forbidden

reasons contains "no CIDRs given" if count(cidrs) == 0

default allow := false

allow if count(reasons) == 0

default matches := []

matches := host_matches

decision := {
	"allow": allow,
	"reasons": reasons,
	"merged": merged,
	"expanded": small_expansion,
	"matches": matches,
}
