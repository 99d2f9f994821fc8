package agents.egress

cfg := data.egress

url := input.tool.args.url

# scheme://[userinfo@]host[:port][/path][?query]
parsed := regex.find_all_string_submatch_n(`^([a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^@/]*@)?(\[[0-9a-fA-F:.]+\]|[^:/?#]*)(?::([0-9]+))?([^?#]*)(?:\?([^#]*))?`, url, 1) if is_string(url)

default parts := null

parts := parsed[0]

default scheme := ""

scheme := lower(parts[1])

default host := ""

host := lower(trim_suffix(trim_prefix(parts[2], "["), "]"))

port := to_number(parts[3]) if parts[3] != ""

else := 443 if scheme == "https"

else := 80

path := parts[4]

is_ip if net.cidr_is_valid(concat("/", [host, "32"]))

is_ip if regex.match(`^[0-9a-f]*:[0-9a-f:]*$`, host)

host_allowed if {
	not is_ip
	some pattern in cfg.allowed_hosts
	glob.match(pattern, ["."], host)
}

host_denied if {
	some pattern in cfg.denied_hosts
	glob.match(pattern, ["."], host)
}

ip_allowed if {
	is_ip
	some cidr in cfg.allowed_cidrs
	net.cidr_contains(cidr, host)
}

ip_private if {
	is_ip
	some cidr in cfg.private_cidrs
	net.cidr_contains(cidr, host)
}

labels := split(host, ".")

# Hosts that look like numeric IPv4 tricks: 0x7f.0.0.1, 2130706433, 127.1
numeric_labels := regex.find_n(`(?:^|\.)(0x[0-9a-f]+|[0-9]+)`, host, -1)

reasons contains "url must be a string" if not is_string(url)

reasons contains "url could not be parsed" if {
	is_string(url)
	parts == null
}

reasons contains sprintf("scheme %q is not allowed", [scheme]) if not scheme in {"https"}

reasons contains sprintf("host %s is not on the allowlist", [host]) if {
	not host_allowed
	not ip_allowed
}

reasons contains sprintf("host %s is explicitly denied", [host]) if host_denied

reasons contains sprintf("%s is a private address", [host]) if ip_private

reasons contains sprintf("port %d is not allowed", [port]) if not port in cfg.allowed_ports

reasons contains "path traversal in url" if contains(path, "..")

reasons contains "host has an empty label" if {
	not is_ip
	some l in labels
	l == ""
}

reasons contains "obfuscated numeric host" if {
	not is_ip
	count(numeric_labels) > 0
	count(numeric_labels) == count(labels)
}

reasons contains "credentials in url" if regex.match(`^[a-zA-Z]+://[^/@]*@`, url)

default allow := false

allow if count(reasons) == 0

decision := {
	"allow": allow,
	"reasons": reasons,
	"host": host,
	"port": port,
	"numeric_labels": numeric_labels,
	"tld": labels[count(labels) - 1],
	"glob_no_delimiters": [p | some p in cfg.allowed_hosts; glob.match(p, [], host)],
}
