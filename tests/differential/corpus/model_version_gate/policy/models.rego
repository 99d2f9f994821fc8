package agents.models

name := input.plugin.name

# normalise has several bodies: strip a leading "v", pad "1.2" to "1.2.0", or keep as is.
normalize(v) := substring(v, 1, -1) if {
	startswith(v, "v")
	semver.is_valid(substring(v, 1, -1))
}

normalize(v) := concat("", [v, ".0"]) if {
	regex.match(`^[0-9]+\.[0-9]+$`, v)
}

normalize(v) := v if semver.is_valid(v)

version := normalize(input.plugin.version)

minimum := data.models.min_versions[name]

cmp_min := semver.compare(version, minimum)

major := to_number(split(version, ".")[0])

default channel := "unknown"

channel := "prerelease" if {
	contains(version, "-")
} else := "build" if {
	contains(version, "+")
} else := "stable" if {
	version
}

reasons contains "version is not valid semver" if not version

reasons contains sprintf("unknown plugin %v", [name]) if not minimum

reasons contains sprintf("%s %s is older than the minimum %s", [name, version, minimum]) if cmp_min < 0

reasons contains sprintf("%s %s is blocked", [name, version]) if {
	some b in data.models.blocked[name]
	semver.compare(version, b) == 0
}

reasons contains sprintf("major version %d is above %d", [major, data.models.max_major]) if major > data.models.max_major

reasons contains "prerelease versions need the beta flag" if {
	channel == "prerelease"
	not input.flags.beta
}

default allow := false

allow if count(reasons) == 0

default normalized := null

normalized := version

default comparison := null

comparison := cmp_min

decision := {
	"allow": allow,
	"reasons": reasons,
	"channel": channel,
	"normalized": normalized,
	"vs_minimum": comparison,
}
